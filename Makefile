# meter_etl - PGXS build
#
#   make                 build the extension (warnings are errors)
#   make install         install into the PostgreSQL found by $(PG_CONFIG)
#   make unit            build and run the cmocka unit tests (no server needed)
#   make installcheck    run the pg_regress suites against a running server
#   make check-all       everything CI runs, on a throwaway cluster (test/run_all.sh)
#   make demo            the end-to-end demo on a throwaway cluster (test/demo.sh)
#   make bench           the benchmarks, side by side with their plain-SQL peers

EXTENSION = meter_etl
EXTVERSION = 0.2
MODULE_big = meter_etl

# Pure C: no postgres.h, tested by cmocka and the fuzzer without a server.
SERIES_SRCS = src/series.c src/series_fill.c src/series_outlier.c src/series_faults.c src/orderstat.c
PARQUET_SRCS = $(sort $(wildcard src/parquet/*.c))
PURE_SRCS = src/me_alloc.c src/parse.c src/tzconv.c src/rules.c src/csvmap.c \
	src/reader.c src/parser_thread.c src/confine.c src/keyruns.c $(SERIES_SRCS) $(PARQUET_SRCS)
# PostgreSQL glue.
GLUE_SRCS = src/meter_etl.c src/guc.c src/stage.c src/ingest.c src/store.c \
	src/quarantine.c src/profile.c src/inbox.c $(sort $(wildcard src/srf_*.c src/detect*.c src/pipeline*.c src/archive*.c))

# SKIP="src/x.c src/sql/30_x.sql" leaves work in progress out of a build
OBJS = $(patsubst %.c,%.o,$(filter-out $(SKIP),$(PURE_SRCS) $(GLUE_SRCS)))
# The install script is assembled from src/sql/*.sql in name order (core
# first, then detection, pipeline, archive), one file per responsibility.
SQL_PARTS = $(filter-out $(SKIP),$(sort $(wildcard src/sql/*.sql)))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
# Earlier versions' install scripts, frozen as released, and the upgrade
# scripts between versions (ALTER EXTENSION meter_etl UPDATE).
DATA = $(sort $(wildcard src/sql/versions/*.sql))
PGFILEDESC = "meter_etl - smart-meter ETL inside PostgreSQL"

# Core suites first, then any other sql/*.sql suite (by name), drop last.
REGRESS_CORE = setup raw_zone ingest_formats accounting trigger profiles reasons
REGRESS_EXTRA = $(filter-out $(REGRESS_CORE) drop,$(sort $(basename $(notdir $(wildcard sql/*.sql)))))
REGRESS = $(REGRESS_CORE) $(REGRESS_EXTRA) drop
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)

WARN = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
	-Wno-sign-compare -Wno-cast-function-type
PG_CPPFLAGS = -Isrc $(WARN) -DME_VERSION='"$(EXTVERSION)"'
SHLIB_LINK = -lcsv -lzstd -lpthread

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: a changed header (a struct, an enum)
# rebuilds every object, rather than linking objects that disagree on it.
$(OBJS): $(wildcard src/*.h src/parquet/*.h)

# rebuilt every time: SKIP may change the list of parts
$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS) FORCE
	cat $(SQL_PARTS) > $@
.PHONY: FORCE
FORCE:

# ---------------------------------------------------------------- unit tests
UNIT_CC ?= cc
UNIT_CFLAGS ?= -O1 -g -std=gnu11 -Isrc $(WARN) -DME_VERSION='"$(EXTVERSION)"'
UNIT_LIBS = -lcmocka -lcsv -lzstd -lm -lpthread
UNIT_TESTS = $(patsubst test/%.c,test/build/%,$(wildcard test/test_*.c))

# Each unit test links only the pure sources it exercises.
test_parse_SRCS = src/me_alloc.c src/parse.c src/tzconv.c src/rules.c src/csvmap.c
test_reader_SRCS = src/me_alloc.c src/parse.c src/tzconv.c src/rules.c src/csvmap.c src/reader.c
test_parser_thread_SRCS = $(test_reader_SRCS) src/parser_thread.c
test_series_SRCS = src/me_alloc.c src/tzconv.c $(SERIES_SRCS)
test_parquet_SRCS = src/me_alloc.c $(PARQUET_SRCS)
test_pq_async_SRCS = $(test_parquet_SRCS)
test_keyruns_SRCS = src/keyruns.c
# the parser thread's allocation failures are injected through realloc
test_parser_thread_LDFLAGS = -Wl,--wrap=realloc

.SECONDEXPANSION:
test/build/%: test/%.c $$($$*_SRCS) $(wildcard src/*.h src/parquet/*.h test/*.h)
	@mkdir -p test/build
	$(UNIT_CC) $(UNIT_CFLAGS) $(UNIT_SANITIZE) -o $@ $< $($*_SRCS) $(UNIT_LIBS) $($*_LDFLAGS)

.PHONY: unit unit-build
unit-build: $(UNIT_TESTS)
unit: unit-build
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

# ---------------------------------------------------------------- tools
bin/meter-etl-load: tools/meter_etl_load.c
	@mkdir -p bin
	$(UNIT_CC) $(UNIT_CFLAGS) -I$(shell $(PG_CONFIG) --includedir) -o $@ $< -L$(shell $(PG_CONFIG) --libdir) -lpq

bin/meter-etl-gen: tools/gen_fleet.c src/me_time.h
	@mkdir -p bin
	$(UNIT_CC) -O2 -std=gnu11 -Isrc $(WARN) -o $@ $< -lm

.PHONY: tools
tools: bin/meter-etl-load bin/meter-etl-gen
all: tools

.PHONY: check-all demo bench
check-all:
	test/run_all.sh
demo:
	test/demo.sh
bench:
	test/bench.sh

clean: clean-unit clean-tools
clean-unit:
	rm -rf test/build
clean-tools:
	rm -f bin/meter-etl-load bin/meter-etl-gen
