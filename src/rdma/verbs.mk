# verbs transport (built only when configure found libibverbs + librdmacm)
if DTP_HAVE_VERBS
endif
