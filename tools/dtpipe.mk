# dtpipe: the trainer (installed), with the default plan embedded at build time
bin_PROGRAMS += tools/dtpipe
tools_dtpipe_SOURCES = tools/dtpipe.c tools/dtpipe-args.h tools/dtpipe-args.c tools/dtpipe-launch.c tools/dtpipe-launch.h \
	tools/launch.h tools/launch-start.c tools/launch-supervise.c tools/launch-status.c \
	tools/check-env.h tools/check-env.c tools/launch-mpi.c \
	tools/launch-restart.c tools/launch-elastic.c
nodist_tools_dtpipe_SOURCES = tools/default-plan.h
tools_dtpipe_LDADD = $(DTP_ALL_LIBS)
CLEANFILES += tools/default-plan.h

# examples/fashion-mnist.ini as a C string (generated in the build tree)
tools/dtpipe.$(OBJEXT): tools/default-plan.h
tools/default-plan.h: $(top_srcdir)/examples/fashion-mnist.ini
	$(AM_V_GEN)$(MKDIR_P) tools && { \
	  echo '/* generated from examples/fashion-mnist.ini by tools/dtpipe.mk */'; \
	  echo 'static const char dtp_default_plan_text[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' \
	    $(top_srcdir)/examples/fashion-mnist.ini; \
	  echo ';'; } > $@-t && mv $@-t $@
