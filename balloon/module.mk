# libdmpballoon: pure logic of the memory balancer (working-set estimators, balancing policy,
# configuration, decision/metrics output). No Xen calls: toolstack/mem plugs Xen into it.
DMP_LIBS        += dmpballoon
dmpballoon_DIR  := balloon
dmpballoon_USES := dmpcommon
dmpballoon_SYS  := -lm
