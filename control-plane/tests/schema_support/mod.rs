//! Reading a migrated schema back, as SQLite (`sqlite_master` and the
//! `pragma_*` functions) and Postgres (`information_schema`, `pg_indexes`)
//! describe it, into one shape the twin test compares.

use sqlx::{AnyPool, Row};
use std::collections::{BTreeMap, BTreeSet};

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The declared type (SQLite) or `data_type` (Postgres).
    pub declared: String,
    /// As enforced: a primary-key column counts as NOT NULL.
    pub not_null: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub table: String,
    pub references: Vec<String>,
    pub on_delete: String,
    pub on_update: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub columns: Vec<String>,
    pub unique: bool,
    /// The `WHERE` of a partial index, without spaces, parentheses or case.
    pub predicate: Option<String>,
}

#[derive(Debug, Default)]
pub struct Table {
    pub columns: BTreeMap<String, Column>,
    /// Columns in key order.
    pub primary_key: Vec<String>,
    pub foreign_keys: BTreeSet<ForeignKey>,
    /// The columns of each UNIQUE constraint.
    pub unique: BTreeSet<Vec<String>>,
    /// Indexes created with `CREATE INDEX`, by name.
    pub indexes: BTreeMap<String, Index>,
}

/// Tables by name.
pub type Schema = BTreeMap<String, Table>;

fn predicate(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '(' && *c != ')')
        .collect::<String>()
        .to_ascii_lowercase()
}

fn split(list: &str) -> Vec<String> {
    list.split(',').map(|c| c.trim().to_string()).collect()
}

/// The schema of a SQLite database (its own tables left out).
pub async fn sqlite_schema(pool: &AnyPool) -> TestResult<Schema> {
    let mut schema = Schema::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(pool)
    .await?;
    for name in tables {
        let mut table = Table::default();
        let mut key: Vec<(i64, String)> = Vec::new();
        let rows = sqlx::query(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info($1) ORDER BY cid",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?;
        for row in rows {
            let column: String = row.try_get(0)?;
            let declared: String = row.try_get(1)?;
            let pk: i64 = row.try_get(3)?;
            if pk > 0 {
                key.push((pk, column.clone()));
            }
            let not_null = row.try_get::<i64, _>(2)? != 0 || pk > 0;
            table.columns.insert(column, Column { declared, not_null });
        }
        key.sort();
        table.primary_key = key.into_iter().map(|(_, c)| c).collect();
        let rows = sqlx::query(
            "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete \
             FROM pragma_foreign_key_list($1) ORDER BY id, seq",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?;
        let mut keys: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        for row in rows {
            let fk = keys.entry(row.try_get(0)?).or_insert_with(|| ForeignKey {
                columns: Vec::new(),
                table: row.try_get(1).unwrap_or_default(),
                references: Vec::new(),
                on_update: row.try_get(4).unwrap_or_default(),
                on_delete: row.try_get(5).unwrap_or_default(),
            });
            fk.columns.push(row.try_get(2)?);
            fk.references.push(row.try_get(3)?);
        }
        table.foreign_keys = keys.into_values().collect();
        let indexes = sqlx::query(
            "SELECT name, \"unique\", origin FROM pragma_index_list($1) WHERE origin <> 'pk'",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?;
        for row in indexes {
            let index: String = row.try_get(0)?;
            let unique = row.try_get::<i64, _>(1)? != 0;
            let origin: String = row.try_get(2)?;
            let columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                    .bind(&index)
                    .fetch_all(pool)
                    .await?;
            if origin == "u" {
                table.unique.insert(columns);
                continue;
            }
            let sql: Option<String> = sqlx::query_scalar(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = $1",
            )
            .bind(&index)
            .fetch_one(pool)
            .await?;
            let predicate = sql
                .as_deref()
                .and_then(|s| s.split_once(" WHERE "))
                .map(|(_, p)| predicate(p));
            table.indexes.insert(
                index,
                Index {
                    columns,
                    unique,
                    predicate,
                },
            );
        }
        schema.insert(name, table);
    }
    Ok(schema)
}

/// The `public` schema of a Postgres database.
pub async fn postgres_schema(pool: &AnyPool) -> TestResult<Schema> {
    let mut schema = Schema::new();
    let rows = sqlx::query(
        "SELECT t.table_name::text, c.column_name::text, c.data_type::text, \
         c.is_nullable::text = 'NO' FROM information_schema.tables t \
         JOIN information_schema.columns c \
         ON c.table_schema = t.table_schema AND c.table_name = t.table_name \
         WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE' \
         ORDER BY 1, c.ordinal_position",
    )
    .fetch_all(pool)
    .await?;
    for row in rows {
        let declared: String = row.try_get(2)?;
        let table = schema.entry(row.try_get(0)?).or_default();
        table.columns.insert(
            row.try_get(1)?,
            Column {
                declared,
                not_null: row.try_get(3)?,
            },
        );
    }
    // Primary keys and unique constraints, columns in key order.
    let rows = sqlx::query(
        "SELECT tc.table_name::text, tc.constraint_type::text, \
         string_agg(k.column_name::text, ',' ORDER BY k.ordinal_position) \
         FROM information_schema.table_constraints tc \
         JOIN information_schema.key_column_usage k \
         ON k.constraint_schema = tc.constraint_schema AND k.constraint_name = tc.constraint_name \
         AND k.table_name = tc.table_name \
         WHERE tc.table_schema = 'public' AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE') \
         GROUP BY tc.table_name, tc.constraint_name, tc.constraint_type",
    )
    .fetch_all(pool)
    .await?;
    for row in rows {
        let kind: String = row.try_get(1)?;
        let columns = split(&row.try_get::<String, _>(2)?);
        let table = schema.entry(row.try_get(0)?).or_default();
        if kind == "PRIMARY KEY" {
            table.primary_key = columns;
        } else {
            table.unique.insert(columns);
        }
    }
    let rows = sqlx::query(
        "SELECT tc.table_name::text, \
         string_agg(k.column_name::text, ',' ORDER BY k.ordinal_position), \
         min(r.table_name::text), \
         string_agg(r.column_name::text, ',' ORDER BY k.ordinal_position), \
         min(rc.delete_rule::text), min(rc.update_rule::text) \
         FROM information_schema.table_constraints tc \
         JOIN information_schema.key_column_usage k \
         ON k.constraint_schema = tc.constraint_schema AND k.constraint_name = tc.constraint_name \
         JOIN information_schema.referential_constraints rc \
         ON rc.constraint_schema = tc.constraint_schema AND rc.constraint_name = tc.constraint_name \
         JOIN information_schema.key_column_usage r \
         ON r.constraint_schema = rc.unique_constraint_schema \
         AND r.constraint_name = rc.unique_constraint_name \
         AND r.ordinal_position = k.position_in_unique_constraint \
         WHERE tc.table_schema = 'public' AND tc.constraint_type = 'FOREIGN KEY' \
         GROUP BY tc.table_name, tc.constraint_name",
    )
    .fetch_all(pool)
    .await?;
    for row in rows {
        let fk = ForeignKey {
            columns: split(&row.try_get::<String, _>(1)?),
            table: row.try_get(2)?,
            references: split(&row.try_get::<String, _>(3)?),
            on_delete: row.try_get(4)?,
            on_update: row.try_get(5)?,
        };
        schema
            .entry(row.try_get(0)?)
            .or_default()
            .foreign_keys
            .insert(fk);
    }
    // Indexes created by name: those no constraint created for itself.
    let rows = sqlx::query(
        "SELECT i.tablename::text, i.indexname::text, i.indexdef FROM pg_indexes i \
         WHERE i.schemaname = 'public' AND NOT EXISTS (\
         SELECT 1 FROM information_schema.table_constraints tc \
         WHERE tc.table_schema = 'public' AND tc.constraint_name = i.indexname)",
    )
    .fetch_all(pool)
    .await?;
    for row in rows {
        let name: String = row.try_get(1)?;
        let def: String = row.try_get(2)?;
        let index = parse_indexdef(&def).ok_or_else(|| format!("unparsed index `{def}`"))?;
        schema
            .entry(row.try_get(0)?)
            .or_default()
            .indexes
            .insert(name, index);
    }
    Ok(schema)
}

/// `CREATE [UNIQUE] INDEX name ON public.t USING btree (a, b) [WHERE (…)]`.
fn parse_indexdef(def: &str) -> Option<Index> {
    let unique = def.starts_with("CREATE UNIQUE INDEX ");
    let (_, rest) = def.split_once(" USING ")?;
    let (_, rest) = rest.split_once('(')?;
    let (columns, rest) = rest.split_once(')')?;
    let predicate = rest.split_once(" WHERE ").map(|(_, p)| predicate(p));
    Some(Index {
        columns: split(columns),
        unique,
        predicate,
    })
}
