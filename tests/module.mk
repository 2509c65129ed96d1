# tests/ - unit tests: tests/unit/test-<module>.c, one binary each.
UNIT_SRCS = $(wildcard tests/unit/test-*.c)
UNIT_TESTS = $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRCS))

$(B)/tests/%: $(B)/tests/unit/%.o $(ALL_LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(ALL_LIBS_A) $(PKG_LIBS)
