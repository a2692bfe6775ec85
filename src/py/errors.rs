//! The one place protocol errors become Python exceptions: builtin types where
//! Python users expect them, `vesper.*` types (from `vesper._errors`) otherwise.

use crate::protocol::ErrorKind;
use pyo3::exceptions::*;
use pyo3::prelude::*;

fn vesper_error(py: Python<'_>, name: &str, message: String) -> PyErr {
    match py.import("vesper._errors").and_then(|m| m.getattr(name)) {
        Ok(class) => match class.call1((message.clone(),)) {
            Ok(instance) => PyErr::from_value(instance),
            Err(error) => error,
        },
        Err(_) => PyRuntimeError::new_err(message),
    }
}

pub fn to_pyerr(kind: ErrorKind, message: String) -> PyErr {
    match kind {
        ErrorKind::Value => PyValueError::new_err(message),
        ErrorKind::Type => PyTypeError::new_err(message),
        ErrorKind::Key => PyKeyError::new_err(message),
        ErrorKind::FileExists => PyFileExistsError::new_err(message),
        ErrorKind::FileNotFound => PyFileNotFoundError::new_err(message),
        ErrorKind::Permission => PyPermissionError::new_err(message),
        ErrorKind::Timeout => PyTimeoutError::new_err(message),
        ErrorKind::Runtime => PyRuntimeError::new_err(message),
        ErrorKind::Os => PyOSError::new_err(message),
        ErrorKind::Job => Python::attach(|py| vesper_error(py, "JobError", message)),
        ErrorKind::MissingInput => {
            Python::attach(|py| vesper_error(py, "MissingInputError", message))
        }
        ErrorKind::MissingOutput => {
            Python::attach(|py| vesper_error(py, "MissingOutputError", message))
        }
    }
}
