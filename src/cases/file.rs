//! Cases from a local JSON file (`simulate --case-file`): one case or a list of cases in the generic adapter's
//! shape, read with the same pointers and value lists. Notes are only logged.

use std::path::Path;

use serde_json::Value;

use super::http_json::extract;
use super::{BoxFuture, Case, CaseError, CaseId, CaseSystem};
use crate::settings::{CaseValues, HttpJsonFields};

#[derive(Debug)]
pub struct FileCases {
    documents: Vec<Value>,
    fields: HttpJsonFields,
    values: CaseValues,
}

impl FileCases {
    pub fn load(path: &Path, fields: HttpJsonFields, values: CaseValues) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
        let documents = match doc {
            Value::Array(list) => list,
            one => vec![one],
        };
        Ok(Self {
            documents,
            fields,
            values,
        })
    }

    /// A single document answers for any case number; in a list, a document answers for its `id`.
    fn find(&self, id: &CaseId) -> Result<Option<Case>, CaseError> {
        let matching = |doc: &&Value| {
            self.documents.len() == 1
                || match doc.pointer("/id") {
                    Some(Value::String(s)) => s == id.as_str(),
                    Some(Value::Number(n)) => n.to_string() == id.as_str(),
                    _ => false,
                }
        };
        self.documents
            .iter()
            .find(matching)
            .map(|doc| extract(doc, id, &self.fields, &self.values))
            .transpose()
    }
}

impl CaseSystem for FileCases {
    fn lookup<'a>(&'a self, id: &'a CaseId) -> BoxFuture<'a, Result<Option<Case>, CaseError>> {
        Box::pin(async move { self.find(id) })
    }

    fn add_note<'a>(&'a self, id: &'a CaseId, body: &'a str) -> BoxFuture<'a, Result<(), CaseError>> {
        Box::pin(async move {
            tracing::info!(case = %id, body, "note (case file: not sent anywhere)");
            Ok(())
        })
    }
}
