# meter_etl - PGXS build
#
#   make                 build the extension (warnings are errors)
#   make install         install into the PostgreSQL found by $(PG_CONFIG)
#   make unit            build and run the cmocka unit tests (no server needed)
#   make installcheck    run the pg_regress suites against a running server
#   make check           the same on a temporary instance (test/check.sh; no root)
#   make check-all       everything CI runs, on a throwaway cluster (test/run_all.sh)
#   make demo            the end-to-end demo on a throwaway cluster (test/demo.sh)
#   make bench           the benchmarks, side by side with their plain-SQL peers

EXTENSION = meter_etl
EXTVERSION = 0.2
MODULE_big = meter_etl

# src/core: pure C, no PostgreSQL header (check-core enforces it), tested by
# cmocka and the fuzzer without a server.  src/pg: the PostgreSQL glue.
READER_SRCS = $(addprefix src/core/read/,reader.c reader_fields.c reader_long.c reader_wide.c reader_nem12.c sniff.c)
READ_SRCS = $(addprefix src/core/read/,parse.c tzconv.c rules.c csvmap.c parser_thread.c) $(READER_SRCS)
SERIES_SRCS = $(addprefix src/core/series/,series.c series_fill.c series_outlier.c series_faults.c orderstat.c)
PARQUET_SRCS = $(sort $(wildcard src/core/parquet/*.c))
# the report's charts run in the client (bin/meter-etl-report), not the server
REPORT_SRCS = src/core/me_alloc.c $(addprefix src/core/report/,me_str.c svg_chart.c)
# issue #20 anomaly scores: isolation forest and day features
PREDICT_SRCS += src/core/predict/iforest.c src/core/predict/dayfeatures.c
PURE_SRCS = src/core/me_alloc.c src/core/confine.c src/core/keyruns.c \
	$(READ_SRCS) $(SERIES_SRCS) $(PARQUET_SRCS)
# issue 20, load-profile segmentation: k-means and the profiles it clusters
PREDICT_SRCS += src/core/predict/kmeans.c src/core/predict/loadprofile.c
# issue 20, load forecasting: double-seasonal Holt-Winters
PREDICT_SRCS += src/core/predict/forecast.c
PURE_SRCS += $(PREDICT_SRCS)
GLUE_SRCS = src/pg/meter_etl.c src/pg/guc.c \
	$(sort $(wildcard src/pg/ingest/*.c src/pg/detect/*.c src/pg/archive/*.c))
GLUE_SRCS += $(sort $(wildcard src/pg/predict/*.c))
HEADERS = $(shell find src -name '*.h')

# SKIP="src/x.c src/sql/30_x.sql" leaves work in progress out of a build
OBJS = $(patsubst %.c,%.o,$(filter-out $(SKIP),$(PURE_SRCS) $(GLUE_SRCS)))
# The install script is assembled from src/sql/*.sql in name order (core
# first, then detection, pipeline, archive), one file per responsibility;
# build.sh fills in the defaults the C headers define (@ME_DEFAULT_*@).
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
SHLIB_LINK = -lcsv -lzstd -lpthread -Wl,--version-script=src/pg/exports.map

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)

# make check: the suites on a temporary instance, nothing installed into the
# system (test/check.sh).  PGXS defines a "check" that only says it is not
# supported, so PGXS is left out when check is the goal.
ifeq ($(MAKECMDGOALS),check)
check:
	REGRESS="$(REGRESS)" REGRESS_OPTS="$(REGRESS_OPTS)" PG_CONFIG="$(PG_CONFIG)" test/check.sh
else
include $(PGXS)

# PGXS tracks no header dependencies: a changed header (a struct, an enum)
# rebuilds every object, rather than linking objects that disagree on it.
$(OBJS): $(HEADERS)

# The pure cores stay pure: no file under src/core may include a PostgreSQL
# header or one of the glue's.  Runs before every build.
.PHONY: check-core
check-core:
	@bad=$$(grep -rlE '#include [<"](postgres|postgres_fe|c|fmgr|miscadmin)\.h[>"]|#include "(pg|utils|access|catalog|executor|nodes|storage|commands|lib|common)/' src/core || true); \
	if [ -n "$$bad" ]; then echo "src/core must not include PostgreSQL or glue headers: $$bad" >&2; exit 1; fi
all: check-core

# rebuilt every time: SKIP may change the list of parts
$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS) src/sql/build.sh FORCE
	src/sql/build.sh $(SQL_PARTS) > $@.tmp && mv $@.tmp $@
.PHONY: FORCE
FORCE:

# ---------------------------------------------------------------- unit tests
UNIT_CC ?= cc
UNIT_CFLAGS ?= -O1 -g -std=gnu11 -Isrc $(WARN) -DME_VERSION='"$(EXTVERSION)"'
UNIT_LIBS = -lcmocka -lcsv -lzstd -lm -lpthread
UNIT_TESTS = $(patsubst test/unit/%.c,test/build/%,$(wildcard test/unit/test_*.c))

# Each unit test links only the pure sources it exercises.
test_parse_SRCS = src/core/me_alloc.c $(addprefix src/core/read/,parse.c tzconv.c rules.c csvmap.c)
test_reader_SRCS = $(test_parse_SRCS) $(READER_SRCS)
test_parser_thread_SRCS = $(test_reader_SRCS) src/core/read/parser_thread.c
test_series_SRCS = src/core/me_alloc.c src/core/read/tzconv.c $(SERIES_SRCS)
test_parquet_SRCS = src/core/me_alloc.c $(PARQUET_SRCS)
test_pq_async_SRCS = $(test_parquet_SRCS)
test_keyruns_SRCS = src/core/keyruns.c
test_confine_SRCS = src/core/confine.c
test_svg_chart_SRCS = $(REPORT_SRCS)
test_iforest_SRCS = src/core/me_alloc.c src/core/predict/iforest.c src/core/predict/dayfeatures.c
test_kmeans_SRCS = $(test_series_SRCS) src/core/predict/kmeans.c src/core/predict/loadprofile.c
test_forecast_SRCS = src/core/me_alloc.c src/core/read/tzconv.c src/core/series/series.c src/core/predict/forecast.c
# the parser thread's allocation failures are injected through realloc
test_parser_thread_LDFLAGS = -Wl,--wrap=realloc

.SECONDEXPANSION:
test/build/%: test/unit/%.c $$($$*_SRCS) $(HEADERS) $(wildcard test/unit/*.h)
	@mkdir -p test/build
	$(UNIT_CC) $(UNIT_CFLAGS) $(UNIT_SANITIZE) -o $@ $< $($*_SRCS) $(UNIT_LIBS) $($*_LDFLAGS)

.PHONY: unit unit-build
unit-build: $(UNIT_TESTS)
# every binary runs, then the status says whether any failed
unit: unit-build
	@st=0; for t in $(UNIT_TESTS); do echo "== $$t"; $$t || st=1; done; exit $$st

# ---------------------------------------------------------------- tools
bin/meter-etl-load: tools/meter_etl_load.c
	@mkdir -p bin
	$(UNIT_CC) $(UNIT_CFLAGS) -I$(shell $(PG_CONFIG) --includedir) -o $@ $< -L$(shell $(PG_CONFIG) --libdir) -lpq

bin/meter-etl-gen: tools/gen_fleet.c src/core/me_time.h
	@mkdir -p bin
	$(UNIT_CC) -O2 -std=gnu11 -Isrc $(WARN) -o $@ $< -lm

bin/meter-etl-report: tools/meter_etl_report.c $(REPORT_SRCS) $(wildcard src/core/report/*.h)
	@mkdir -p bin
	$(UNIT_CC) -O2 -std=gnu11 -Isrc $(WARN) -I$(shell $(PG_CONFIG) --includedir) -o $@ $< $(REPORT_SRCS) \
		-L$(shell $(PG_CONFIG) --libdir) -lpq -lm

.PHONY: tools
tools: bin/meter-etl-load bin/meter-etl-gen bin/meter-etl-report
all: tools

$(shlib): src/pg/exports.map

# The library exports exactly the C functions the install script names, and
# the two PostgreSQL looks up itself (src/pg/exports.map).
.PHONY: check-exports
check-exports: $(shlib)
	@nm -D --defined-only $(shlib) | awk '{ print $$3 }' | sort > exports.have
	@{ echo Pg_magic_func; echo _PG_init; \
	   sed -n "s/.*'MODULE_PATHNAME', *'\([a-z_0-9]*\)'.*/\1/p" $(SQL_PARTS) | sort -u | sed 'p; s/^/pg_finfo_/'; } \
	   | sort > exports.want
	@if ! diff -u exports.want exports.have; then rm -f exports.want exports.have; \
	   echo "exported symbols differ from the SQL entry points" >&2; exit 1; fi
	@echo "exports: $$(wc -l < exports.have) symbols, all of them SQL entry points or PostgreSQL's"
	@rm -f exports.want exports.have

.PHONY: check-all demo bench
check-all:
	test/run_all.sh
demo:
	test/demo.sh
bench:
	test/bench/bench.sh

clean: clean-unit clean-tools
clean-unit:
	rm -rf test/build
clean-tools:
	rm -f bin/meter-etl-load bin/meter-etl-gen bin/meter-etl-report
endif
