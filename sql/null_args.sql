-- Every function of the SQL surface called with all its arguments NULL
-- (issue 18): an error, never a silent answer.  The expected file is the
-- reviewed list; a new function shows up here.  Allowed answers: a STRICT
-- scalar function returns NULL for NULL (SQL's own rule), and a function
-- without arguments has nothing to refuse.  Trigger functions are skipped
-- (they cannot be called).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
CREATE TEMP TABLE outcome (fn text, kind text, outcome text);
DO $$
DECLARE
  f record;
  call text;
  res text;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure::text AS sig, p.proname, p.prokind, p.proretset, p.proisstrict, p.pronargs,
           (SELECT string_agg('NULL::' || format_type(t, NULL), ', ' ORDER BY o)
              FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, o)) AS args,
           p.prorettype = 'void'::regtype AS void
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'meter_etl' AND p.prorettype <> 'trigger'::regtype
     ORDER BY p.proname, p.oid::regprocedure::text
  LOOP
    IF f.pronargs = 0 THEN
      INSERT INTO outcome VALUES (f.sig, f.prokind, 'no arguments');
      CONTINUE;
    END IF;
    call := CASE WHEN f.prokind = 'p' THEN format('CALL meter_etl.%I(%s)', f.proname, f.args)
                 WHEN f.proretset THEN format('SELECT count(*) FROM meter_etl.%I(%s)', f.proname, f.args)
                 WHEN f.void THEN format('SELECT meter_etl.%I(%s)', f.proname, f.args)
                 ELSE format('SELECT meter_etl.%I(%s)::text', f.proname, f.args) END;
    BEGIN
      EXECUTE call INTO res;
      res := CASE WHEN f.proisstrict AND NOT f.proretset THEN 'NULL (strict)'
                  ELSE 'ANSWERED ' || coalesce(res, 'NULL') END;
    EXCEPTION WHEN OTHERS THEN
      res := 'error ' || SQLSTATE;
    END;
    INSERT INTO outcome VALUES (f.sig, f.prokind, res);
  END LOOP;
END
$$;
SELECT fn, outcome FROM outcome ORDER BY fn;
-- the rule: nothing answers, but for the functions whose only arguments are
-- optional with NULL as their documented default (claim_next_file: no
-- worker name; detect_pending: every pending run)
SELECT fn, outcome FROM outcome
 WHERE outcome LIKE 'ANSWERED%'
   AND fn NOT IN ('meter_etl.claim_next_file(text)', 'meter_etl.detect_pending(integer)')
 ORDER BY fn;
