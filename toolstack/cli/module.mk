# libdmpcli: what dmpctl's commands and dmpd share as user-facing conventions: exit codes,
# error messages that name the bad input, --help, table-driven option parsing, and the client
# side of dmpd's socket.
DMP_LIBS      += dmpcli
dmpcli_DIR    := toolstack/cli
dmpcli_USES   := dmpcommon
