//! The migrations stay twins: both dialects' migrations, applied by the
//! control plane's own runner (SQLite in a temporary file, Postgres in a
//! fresh database dropped afterwards), describe the same schema. Compared:
//! the tables, each table's columns with their type family and nullability,
//! primary keys, foreign keys (with their delete and update rules), unique
//! constraints, and the indexes created by name (columns, uniqueness,
//! predicate); also that both dialects ran the same migrations, one per file.
//!
//! Type families (SQLite by its declared type, Postgres by
//! `information_schema.columns.data_type`):
//!
//! | family    | SQLite declared type                   | Postgres                            |
//! |-----------|----------------------------------------|-------------------------------------|
//! | boolean   | contains `BOOL`                        | `boolean`                           |
//! | timestamp | contains `TIMESTAMP`/`DATETIME`, `DATE` | `timestamp with[out] time zone`, `date` |
//! | json      | contains `JSON`                        | `json`, `jsonb`                     |
//! | integer   | contains `INT`                         | `smallint`, `integer`, `bigint`     |
//! | text      | contains `CHAR`, `CLOB` or `TEXT`      | `text`, `character varying`, `character` |
//! | bytes     | contains `BLOB`, or no type            | `bytea`                             |
//! | real      | contains `REAL`, `FLOA` or `DOUB`      | `real`, `double precision`          |
//! | numeric   | anything else (SQLite's last rule)     | `numeric`                           |
//!
//! Any other Postgres type is a family of its own and so never matches.
//! Integer widths are not compared: SQLite stores every integer in up to 8
//! bytes. Nullability is as enforced: a primary-key column counts as NOT
//! NULL on both sides (Postgres implies it; SQLite's rowid alias implies it,
//! and the store never writes a NULL key into the other primary keys, which
//! SQLite's documented legacy quirk would otherwise allow).

mod common;
mod schema_support;

use common::TestResult;
use schema_support::{Schema, postgres_schema, sqlite_schema};
use sqlx::{AnyPool, Row};
use std::collections::BTreeSet;
use wrnexus_control_plane::push::Pusher;
use wrnexus_control_plane::store::{Store, sqlite_url};

/// Tables only Postgres has, each with the Postgres-only reason. (Row-level
/// security needs no table: its helpers are functions and policies.)
const POSTGRES_ONLY: &[(&str, &str)] = &[];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Family {
    Boolean,
    Timestamp,
    Json,
    Integer,
    Text,
    Bytes,
    Real,
    Numeric,
    Other(String),
}

fn sqlite_family(declared: &str) -> Family {
    let t = declared.to_ascii_uppercase();
    let has = |s: &str| t.contains(s);
    if has("BOOL") {
        Family::Boolean
    } else if has("TIMESTAMP") || has("DATETIME") || t == "DATE" {
        Family::Timestamp
    } else if has("JSON") {
        Family::Json
    } else if has("INT") {
        Family::Integer
    } else if has("CHAR") || has("CLOB") || has("TEXT") {
        Family::Text
    } else if has("BLOB") || t.is_empty() {
        Family::Bytes
    } else if has("REAL") || has("FLOA") || has("DOUB") {
        Family::Real
    } else {
        Family::Numeric
    }
}

fn postgres_family(data_type: &str) -> Family {
    match data_type {
        "boolean" => Family::Boolean,
        "timestamp with time zone" | "timestamp without time zone" | "date" => Family::Timestamp,
        "json" | "jsonb" => Family::Json,
        "smallint" | "integer" | "bigint" => Family::Integer,
        "text" | "character varying" | "character" => Family::Text,
        "bytea" => Family::Bytes,
        "real" | "double precision" => Family::Real,
        "numeric" => Family::Numeric,
        other => Family::Other(other.to_string()),
    }
}

/// Every way `pg` differs from `lite`, one line each.
fn drift(lite: &Schema, pg: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    let allowed: BTreeSet<&str> = POSTGRES_ONLY.iter().map(|(t, _)| *t).collect();
    for name in lite.keys().filter(|t| !pg.contains_key(*t)) {
        out.push(format!("table `{name}` only on SQLite"));
    }
    for name in pg.keys().filter(|t| !lite.contains_key(*t)) {
        if !allowed.contains(name.as_str()) {
            out.push(format!("table `{name}` only on Postgres"));
        }
    }
    for (name, l) in lite {
        let Some(p) = pg.get(name) else { continue };
        for (col, lc) in &l.columns {
            let Some(pc) = p.columns.get(col) else {
                out.push(format!("`{name}.{col}` only on SQLite"));
                continue;
            };
            let (lf, pf) = (sqlite_family(&lc.declared), postgres_family(&pc.declared));
            if lf != pf {
                out.push(format!(
                    "`{name}.{col}`: SQLite `{}` ({lf:?}), Postgres `{}` ({pf:?})",
                    lc.declared, pc.declared
                ));
            }
            if lc.not_null != pc.not_null {
                out.push(format!(
                    "`{name}.{col}`: NOT NULL on SQLite {}, on Postgres {}",
                    lc.not_null, pc.not_null
                ));
            }
        }
        for col in p.columns.keys().filter(|c| !l.columns.contains_key(*c)) {
            out.push(format!("`{name}.{col}` only on Postgres"));
        }
        if l.primary_key != p.primary_key {
            out.push(format!(
                "`{name}` primary key: SQLite {:?}, Postgres {:?}",
                l.primary_key, p.primary_key
            ));
        }
        for fk in l.foreign_keys.symmetric_difference(&p.foreign_keys) {
            let side = if l.foreign_keys.contains(fk) {
                "SQLite"
            } else {
                "Postgres"
            };
            out.push(format!("`{name}` foreign key only on {side}: {fk:?}"));
        }
        for u in l.unique.symmetric_difference(&p.unique) {
            let side = if l.unique.contains(u) {
                "SQLite"
            } else {
                "Postgres"
            };
            out.push(format!("`{name}` unique {u:?} only on {side}"));
        }
        for (index, li) in &l.indexes {
            match p.indexes.get(index) {
                None => out.push(format!("index `{index}` only on SQLite")),
                Some(pi) if pi != li => {
                    out.push(format!("index `{index}`: SQLite {li:?}, Postgres {pi:?}"));
                }
                Some(_) => {}
            }
        }
        for index in p.indexes.keys().filter(|i| !l.indexes.contains_key(*i)) {
            out.push(format!("index `{index}` only on Postgres"));
        }
    }
    out
}

/// The migrations each dialect recorded: `(version, description, success)`.
async fn applied(pool: &AnyPool) -> TestResult<Vec<(i64, String, bool)>> {
    let rows = sqlx::query(
        "SELECT version, description, CAST(CASE WHEN success THEN 1 ELSE 0 END AS BIGINT) \
         FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get::<i64, _>(2)? == 1)))
        .collect::<Result<_, sqlx::Error>>()?)
}

/// The `.sql` files of one dialect's directory, by name.
fn files(dialect: &str) -> TestResult<Vec<String>> {
    let dir = format!("{}/migrations/{dialect}", env!("CARGO_MANIFEST_DIR"));
    let mut names = std::fs::read_dir(dir)?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<Vec<_>, std::io::Error>>()?;
    names.retain(|n| n.ends_with(".sql"));
    names.sort();
    Ok(names)
}

#[tokio::test]
async fn both_dialects_migrate_to_the_same_schema() -> TestResult {
    let postgres_files = files("postgres")?;
    assert_eq!(files("sqlite")?, postgres_files, "the twin files differ");

    let dir = tempfile::tempdir()?;
    let sqlite = Store::connect(&sqlite_url(&dir.path().join("t.sqlite")), Pusher::none()).await?;
    let lite = sqlite_schema(sqlite.pool()).await?;
    let lite_applied = applied(sqlite.pool()).await?;
    assert_eq!(lite_applied.len(), postgres_files.len(), "{lite_applied:?}");
    assert!(
        lite_applied.iter().all(|(_, _, ok)| *ok),
        "{lite_applied:?}"
    );
    // The comparison sees what it should (a schema read as empty would
    // match anything).
    let users = lite.get("users").ok_or("no users table read")?;
    assert_eq!(users.primary_key, ["id"]);
    assert!(users.unique.contains(&vec!["email".to_string()]));
    assert_eq!(lite["memberships"].foreign_keys.len(), 2);
    assert!(
        lite["stripe_events"].indexes["stripe_events_unprocessed"]
            .predicate
            .is_some()
    );

    let Some((owner, _)) = common::postgres().await? else {
        println!("Postgres unavailable: compared nothing against it (see the message above)");
        return Ok(());
    };
    let pool = AnyPool::connect(&owner).await?;
    let compared = async {
        let pg = postgres_schema(&pool).await?;
        for (table, reason) in POSTGRES_ONLY {
            assert!(
                pg.contains_key(*table) && !lite.contains_key(*table),
                "allow-listed `{table}` ({reason}) is no longer Postgres-only"
            );
        }
        let drift = drift(&lite, &pg);
        assert!(
            drift.is_empty(),
            "the migrations drifted:\n{}",
            drift.join("\n")
        );
        assert_eq!(applied(&pool).await?, lite_applied);
        TestResult::Ok(())
    }
    .await;
    pool.close().await;
    drop_database(&owner).await?;
    compared
}

/// Drop the test's database (the migrations' role is the cluster's and stays).
async fn drop_database(url: &str) -> TestResult {
    use sqlx::Connection;
    let name = url
        .rsplit_once('/')
        .map(|(_, n)| n)
        .ok_or("no database name")?;
    let mut admin = sqlx::AnyConnection::connect(&common::admin_url()).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    Ok(())
}

#[test]
fn type_families_follow_the_stated_mapping() {
    for (sqlite, postgres) in [
        ("TEXT", "text"),
        ("VARCHAR(20)", "character varying"),
        ("INTEGER", "bigint"),
        ("BIGINT", "integer"),
        ("BOOLEAN", "boolean"),
        ("TIMESTAMP", "timestamp with time zone"),
        ("BLOB", "bytea"),
        ("JSON", "jsonb"),
        ("REAL", "double precision"),
    ] {
        assert_eq!(sqlite_family(sqlite), postgres_family(postgres), "{sqlite}");
    }
    assert_ne!(sqlite_family("TEXT"), postgres_family("bigint"));
    assert_eq!(postgres_family("uuid"), Family::Other("uuid".into()));
}

#[test]
fn drift_names_every_difference() {
    use schema_support::{Column, ForeignKey, Index, Table};
    let table = |declared: &str, not_null: bool| {
        let mut t = Table::default();
        let column = Column {
            declared: declared.into(),
            not_null,
        };
        t.columns.insert("a".into(), column);
        t.primary_key = vec!["a".into()];
        t
    };
    let mut lite = Schema::new();
    lite.insert("t".into(), table("INTEGER", true));
    lite.insert("only_lite".into(), Table::default());
    let mut p = table("text", false);
    p.primary_key.clear();
    p.unique.insert(vec!["a".into()]);
    p.foreign_keys.insert(ForeignKey {
        columns: vec!["a".into()],
        table: "u".into(),
        references: vec!["id".into()],
        on_delete: "CASCADE".into(),
        on_update: "NO ACTION".into(),
    });
    let index = Index {
        columns: vec!["a".into()],
        unique: false,
        predicate: None,
    };
    p.indexes.insert("t_by_a".into(), index);
    let mut pg = Schema::new();
    pg.insert("t".into(), p);
    let found = drift(&lite, &pg);
    for expected in [
        "table `only_lite` only on SQLite",
        "`t.a`: SQLite `INTEGER` (Integer), Postgres `text` (Text)",
        "`t.a`: NOT NULL on SQLite true, on Postgres false",
        "`t` primary key",
        "`t` foreign key only on Postgres",
        "`t` unique [\"a\"] only on Postgres",
        "index `t_by_a` only on Postgres",
    ] {
        assert!(
            found.iter().any(|d| d.starts_with(expected)),
            "{expected}: {found:#?}"
        );
    }
    assert_eq!(found.len(), 7, "{found:#?}");
}
