# DTP_PTHREAD: make sure -pthread links (glibc >= 2.34 has pthreads in libc,
# older systems need the flag); sets PTHREAD_CFLAGS/PTHREAD_LIBS.
AC_DEFUN([DTP_PTHREAD], [
  AC_MSG_CHECKING([for -pthread])
  save_CFLAGS=$CFLAGS; CFLAGS="$CFLAGS -pthread"
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <pthread.h>]], [[pthread_t t; pthread_create(&t, 0, 0, 0);]])],
    [PTHREAD_CFLAGS=-pthread; PTHREAD_LIBS=-pthread; AC_MSG_RESULT([yes])],
    [AC_MSG_ERROR([cannot link with -pthread])])
  CFLAGS=$save_CFLAGS
  AC_SUBST([PTHREAD_CFLAGS])
  AC_SUBST([PTHREAD_LIBS])
])
