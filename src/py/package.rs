//! The `vesper` Python package, built into the binary so nothing needs installing.

/// (module name, is package, source) for every module of python/vesper.
pub const MODULES: &[(&str, bool, &str)] = &[
    (
        "vesper",
        true,
        include_str!("../../python/vesper/__init__.py"),
    ),
    (
        "vesper._errors",
        false,
        include_str!("../../python/vesper/_errors.py"),
    ),
    (
        "vesper._jobs",
        false,
        include_str!("../../python/vesper/_jobs.py"),
    ),
    (
        "vesper._dfs",
        false,
        include_str!("../../python/vesper/_dfs.py"),
    ),
    (
        "vesper._userview",
        false,
        include_str!("../../python/vesper/_userview.py"),
    ),
    (
        "vesper._mapreduce",
        false,
        include_str!("../../python/vesper/_mapreduce.py"),
    ),
    (
        "vesper._worker",
        false,
        include_str!("../../python/vesper/_worker.py"),
    ),
];

/// Installs a meta-path finder serving `MODULES` from memory.
pub const BOOTSTRAP: &str = r#"
import sys, importlib.abc, importlib.util

class _VesperFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, modules):
        self.modules = {name: (is_package, source) for name, is_package, source in modules}
    def find_spec(self, name, path=None, target=None):
        if name in self.modules:
            return importlib.util.spec_from_loader(name, self, is_package=self.modules[name][0])
        return None
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        is_package, source = self.modules[module.__name__]
        filename = "<vesper>/" + module.__name__.replace(".", "/") + ("/__init__.py" if is_package else ".py")
        module.__file__ = filename
        if is_package:
            module.__path__ = []
        exec(compile(source, filename, "exec"), module.__dict__)

sys.meta_path.insert(0, _VesperFinder(_vesper_modules))
"#;
