# libdmpseg: named memory segments (docs/SEGMENTS.md): the rules dmpctl and dmpd both apply to
# names and sizes, and the registry file dmpd keeps. Pure logic.
DMP_LIBS      += dmpseg
dmpseg_DIR    := toolstack/segment
dmpseg_USES   := dmpcommon
