-- Generates the temporary-schema shadows of the attack suite (run by a
-- superuser; the output is a script an attacker's session runs).
--
-- For every relation of schema meter_etl, and every function of meter_etl
-- and of the pg_catalog functions the SECURITY DEFINER paths call, a
-- temporary object of the same name is made whose every use calls
-- pg_temp.evil(): it tries to make the session's login a superuser and says
-- SHADOW_USED.  Code running as the extension's owner that resolved a name
-- to the caller's temporary schema would do both.
\pset tuples_only on
\pset format unaligned
SELECT $$CREATE FUNCTION pg_temp.evil(what text) RETURNS text LANGUAGE plpgsql AS $b$
BEGIN
  RAISE WARNING 'SHADOW_USED: % (current_user %)', what, current_user;
  BEGIN
    EXECUTE pg_catalog.format('ALTER ROLE %I SUPERUSER', session_user);
  EXCEPTION WHEN OTHERS THEN
    NULL;
  END;
  RETURN NULL;
END
$b$;$$;

-- relations: a temporary view with the same columns, each calling evil()
SELECT pg_catalog.format('CREATE TEMP VIEW %I AS SELECT %s;', c.relname,
         pg_catalog.string_agg(pg_catalog.format('pg_temp.evil(%L)::%s AS %I', c.relname,
                               pg_catalog.format_type(a.atttypid, a.atttypmod), a.attname),
                               ', ' ORDER BY a.attnum))
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = 'meter_etl'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
 GROUP BY c.relname
 ORDER BY c.relname;
SELECT pg_catalog.format('CREATE TEMP SEQUENCE %I;', c.relname)
  FROM pg_catalog.pg_class c
 WHERE c.relnamespace = 'meter_etl'::regnamespace AND c.relkind = 'S'
 ORDER BY c.relname;

-- functions: the same name and arguments in pg_temp (PostgreSQL never looks
-- functions up there unqualified; this proves it stays so)
SELECT pg_catalog.format(
         'CREATE FUNCTION pg_temp.%I(%s) RETURNS %s%s LANGUAGE plpgsql AS $b$BEGIN PERFORM pg_temp.evil(%L); RETURN%s; END$b$;',
         p.proname,
         pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.format_type(t, NULL)
                                            FROM pg_catalog.unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, i)
                                           ORDER BY i), ', '),
         CASE WHEN p.proretset THEN 'SETOF ' ELSE '' END,
         CASE WHEN 'o' = ANY (coalesce(p.proargmodes, '{}')) OR 't' = ANY (coalesce(p.proargmodes, '{}'))
              THEN 'record' ELSE pg_catalog.format_type(p.prorettype, NULL) END,
         p.proname || '()',
         CASE WHEN p.proretset OR p.prorettype = 'void'::regtype THEN '' ELSE ' NULL' END)
  FROM pg_catalog.pg_proc p
 WHERE p.prokind = 'f'
   AND (p.pronamespace = 'meter_etl'::regnamespace
        OR (p.pronamespace = 'pg_catalog'::regnamespace
            AND p.proname IN ('sha256', 'encode', 'hashtextextended', 'pg_advisory_xact_lock',
                              'octet_length', 'substr', 'substring', 'generate_series', 'lower',
                              'to_regclass', 'to_char', 'now', 'clock_timestamp', 'set_config',
                              'current_setting', 'pg_notify', 'jsonb_build_object')))
   -- plpgsql cannot take "any" or internal, and cannot return a trigger from pg_temp usefully
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proargtypes::oid[] || p.prorettype) t(oid)
                     JOIN pg_catalog.pg_type ty ON ty.oid = t.oid
                    WHERE ty.typtype = 'p' AND ty.typname NOT IN ('void', 'record', 'trigger',
                                                                  'anyelement', 'anyarray'))
 ORDER BY p.oid;
