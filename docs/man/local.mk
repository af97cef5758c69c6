# man pages: docs/man/*.1.in with the version and the installed documentation
# directory filled in (make, not configure, so that $(docdir) is expanded)
man1_MANS += docs/man/dtpipe.1 docs/man/dtpipe-shard.1 docs/man/dtpipe-partition.1 docs/man/dtpipe-export.1
EXTRA_DIST += docs/man/dtpipe.1.in docs/man/dtpipe-shard.1.in docs/man/dtpipe-partition.1.in \
	docs/man/dtpipe-export.1.in
CLEANFILES += docs/man/dtpipe.1 docs/man/dtpipe-shard.1 docs/man/dtpipe-partition.1 docs/man/dtpipe-export.1
# the documents the man pages point to, installed in $(docdir)
dist_doc_DATA += docs/plan-format.md docs/record-shard-format.md docs/architecture.md \
	docs/wire-protocol.md docs/preemption.md \
	docs/cluster.md docs/checkpoint-format.md

dtp_man_edit = $(MKDIR_P) docs/man && sed -e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g' \
	-e 's|@docdir[@]|$(docdir)|g'
docs/man/dtpipe.1: $(top_srcdir)/docs/man/dtpipe.1.in Makefile
	$(AM_V_GEN)$(dtp_man_edit) $(top_srcdir)/docs/man/dtpipe.1.in > $@-t && mv $@-t $@
docs/man/dtpipe-shard.1: $(top_srcdir)/docs/man/dtpipe-shard.1.in Makefile
	$(AM_V_GEN)$(dtp_man_edit) $(top_srcdir)/docs/man/dtpipe-shard.1.in > $@-t && mv $@-t $@
docs/man/dtpipe-partition.1: $(top_srcdir)/docs/man/dtpipe-partition.1.in Makefile
	$(AM_V_GEN)$(dtp_man_edit) $(top_srcdir)/docs/man/dtpipe-partition.1.in > $@-t && mv $@-t $@
docs/man/dtpipe-export.1: $(top_srcdir)/docs/man/dtpipe-export.1.in Makefile
	$(AM_V_GEN)$(dtp_man_edit) $(top_srcdir)/docs/man/dtpipe-export.1.in > $@-t && mv $@-t $@
