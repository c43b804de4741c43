"""poller.plugins: entry-point names and class paths load the same way and fail with the same one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.base import Collector
from collectors.errors import PluginError
from poller import plugins

PLUGIN = '''
from collectors.base import Collector, EntityType, Listing

class Good(Collector):
    """A class-path plugin."""
    name = "good"
    entity_types = (EntityType("cp.thing"),)

    def list(self, etype, context):
        return Listing(etype.name, iter(()))

class NotACollector:
    pass

class Outer:
    class Inner(Good):
        pass
'''


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A package ``cp_pkg.mod`` on sys.path holding Good, NotACollector and Outer.Inner."""
    package = tmp_path / "cp_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(PLUGIN)
    (package / "broken.py").write_text("import not_installed_dependency_xyz\n")
    (package / "crashes.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("cp_pkg")]:
        del sys.modules[name]


class TestClassPath:
    def test_colon_class_path_loads_the_class(self, plugin_dir: Path) -> None:
        """'package.module:Class' loads that Collector subclass."""
        cls = plugins.load("cp_pkg.mod:Good")
        assert issubclass(cls, Collector) and cls.name == "good"

    def test_dotted_class_path_loads_the_class(self, plugin_dir: Path) -> None:
        """'package.module.Class' (dots only) loads the same class."""
        assert plugins.load("cp_pkg.mod.Good") is plugins.load("cp_pkg.mod:Good")

    def test_nested_attribute_after_the_colon(self, plugin_dir: Path) -> None:
        """'module:Outer.Inner' walks the attribute path."""
        assert plugins.load("cp_pkg.mod:Outer.Inner").__name__ == "Inner"

    def test_missing_module_is_one_sentence(self, plugin_dir: Path) -> None:
        """A class path whose module does not exist fails naming the module."""
        with pytest.raises(PluginError) as caught:
            plugins.load("no_such_pkg.mod:Thing")
        assert str(caught.value) == ("collector plugin 'no_such_pkg.mod:Thing' cannot be imported: "
                                     "no module named 'no_such_pkg'")

    def test_missing_dependency_of_the_module_names_it(self, plugin_dir: Path) -> None:
        """A module that imports something absent fails naming that dependency."""
        with pytest.raises(PluginError, match="missing module 'not_installed_dependency_xyz'"):
            plugins.load("cp_pkg.broken:Thing")

    def test_module_raising_at_import_is_one_sentence(self, plugin_dir: Path) -> None:
        """A module that raises while importing fails with the exception's type only."""
        with pytest.raises(PluginError, match=r"^collector plugin 'cp_pkg.crashes:X' failed to load: RuntimeError$"):
            plugins.load("cp_pkg.crashes:X")

    def test_missing_attribute_is_one_sentence(self, plugin_dir: Path) -> None:
        """A class path naming an attribute the module lacks says so."""
        with pytest.raises(PluginError) as caught:
            plugins.load("cp_pkg.mod:Nope")
        assert str(caught.value) == "collector plugin 'cp_pkg.mod:Nope': module 'cp_pkg.mod' has no attribute 'Nope'"

    def test_not_a_collector_subclass(self, plugin_dir: Path) -> None:
        """A class that is not a Collector is refused exactly like a bad entry point."""
        with pytest.raises(PluginError, match="is not a subclass of collectors.base.Collector"):
            plugins.load("cp_pkg.mod:NotACollector")

    def test_invalid_class_path(self) -> None:
        """A class path that cannot name a Python object is refused before importing anything."""
        with pytest.raises(PluginError, match="is not a valid class path"):
            plugins.load("my-package.mod:Class")

    def test_installed_name_wins_over_class_path_reading(self) -> None:
        """An installed entry-point name is never read as a class path."""
        assert not plugins.is_class_path("nagios")
        assert plugins.is_class_path("cp_pkg.mod:Good") and plugins.is_class_path("a.b")

    def test_unknown_plain_name_mentions_class_paths(self) -> None:
        """A plain unknown name lists the installed ones and says a class path is possible."""
        with pytest.raises(PluginError, match=r"unknown collector 'nope' \(installed: .*nagios.*'package.module:Class'"):
            plugins.load("nope")

    def test_class_paths_of_a_configuration(self) -> None:
        """class_paths keeps only the class-path names, each mapped to module:Class."""
        assert plugins.class_paths(["nagios", "a.b.C", "x.y:Z", "a.b.C"]) == {"a.b.C": "a.b:C", "x.y:Z": "x.y:Z"}


def test_builtin_entry_point_still_loads() -> None:
    """An installed name (nagios) loads its class as before."""
    from collectors.nagios.collector import NagiosCollector

    assert plugins.load("nagios") is NagiosCollector
