//! The authorization contract shared by the WRNexus gateway and control plane.
//!
//! # Layout
//!
//! - [`model`] — roles and workspace status (re-exported from
//!   `wrnexus-contract`, the wire contract), actions and credential kinds:
//!   the vocabulary both sides speak.
//! - [`claims`] — the session cookie's JWT claims.
//! - [`api_key`] — the API key format and its hash, as both sides check it.
//! - [`assertion`] — signing the assertion header upstreams may verify (its
//!   claims are the wire contract's).
//! - [`entries`] — the decision data (membership, workspace, session, user,
//!   API key, project) that the control plane pushes and the gateway
//!   caches, with its cache keys and invalidation messages.
//! - [`ids`] — request and decision ids, minted without a system call.
//! - [`load`] — reading the Cedar schema and policy files, with errors that
//!   name file and line.
//! - [`redirect`] — the `return_to` rule (same-origin paths only).
//! - [`request`] — a decision request: principal, action, workspace, data.
//! - [`sign_in`] — a workspace's sign-in policy and how a request's
//!   session was signed in, as Cedar sees them (`sign_in.cedar`).
//! - [`engine`] — the parsed, validated policy set and the one call that
//!   turns a request description into a [`Decision`] (`engine_cedar`: the
//!   request and entities as Cedar sees them).
//! - [`reads`] — what a policy set reads of a request, found at load.
//! - [`memo`] — decisions remembered by what they depend on (per engine).
//! - [`invariant_set`] — the rules no policy edit may break, written in
//!   Cedar (`invariants/*.cedar`): built in, and a directory's own.
//! - [`proof`] — proving them, and that no policy errs, over every request
//!   with an SMT solver on every load (`prover`: a solver session and the
//!   questions asked of it); [`solver`] — which solver, and how long it may
//!   take; [`counterexample`] — the request a refutation comes with,
//!   described and decided; [`proof_status`] — how the proofs went, kept
//!   by the engine for reports.
//! - [`invariants`] — the same invariants checked by sampling a request
//!   space (without a solver, and as a cross-check).
//! - [`vocabulary`] — the context attributes and literals a policy set
//!   reads, from which the sampled request space is built.
//! - [`diff`] — what an edit changes, proven per request environment.
//! - [`cases`] — decision tests as data (`tests/*.toml`).
//! - [`reload`] — loading a candidate set with every check, for reloads.
//!
//! The Cedar files themselves (`schema.cedarschema`, `*.cedar`) live beside
//! this crate's `Cargo.toml`; the same files are compiled in as the shipped
//! default.

pub mod api_key;
pub mod assertion;
pub mod cases;
pub mod claims;
pub mod counterexample;
pub mod diff;
pub mod engine;
pub mod entries;
pub mod ids;
pub mod invariant_set;
pub mod invariants;
pub mod load;
pub mod memo;
pub mod model;
pub mod proof;
pub mod proof_status;
mod prover;
pub mod reads;
pub mod redirect;
pub mod reload;
pub mod request;
pub mod sign_in;
pub mod solver;
pub mod vocabulary;

pub use claims::SessionClaims;

/// The `path` the control plane decides the deletion of a workspace with:
/// the one change `suspension.cedar` leaves open to a suspended workspace.
pub const DELETE_WORKSPACE_PATH: &str = "/.wrnexus/workspace/delete";

/// The `path` the control plane decides unarchiving a project with: the
/// one change `projects.cedar` leaves open to an archived project (an
/// `admin` action).
pub const UNARCHIVE_PROJECT_PATH: &str = "/.wrnexus/project/unarchive";
pub use engine::{Decision, DecisionRequest, PolicyEngine, Principal};
pub use entries::{DecisionData, Entry, EntryKey, EntryKeyRef, Invalidation, VersionedEntry};
pub use load::{PolicyError, PolicySource};
pub use model::{Action, CredentialKind, Role, WorkspaceStatus};
pub use sign_in::{SignIn, SignInMethod, SignInMethods};
