"""Docstrings document exactly the parameters of the signatures.

For every public class and function of ``skmim.__all__`` and
``skmim.metrics.__all__``, and every public method that skmim itself defines
on those classes (``fit``, ``predict``, ``transform``, ``sample``, ...), the
names in the numpydoc "Parameters" section must be the parameters of the
signature (a class documents ``__init__``). Two checks:

- ``numpydoc.validate`` (codes PR01: parameter not documented, PR02: unknown
  parameter documented), when numpydoc is installed (``docs/requirements.txt``);
- a dependency-free parser of the "Parameters" section, which always runs.
"""

import inspect

import pytest

import skmim
from skmim import metrics

NUMPYDOC_CODES = ("PR01", "PR02")


def _defined_in_skmim(obj):
    return (getattr(obj, "__module__", None) or "").split(".")[0] == "skmim"


def _public_objects():
    """``(import path, object)`` of every public class, function and method."""
    objects = []
    for module, names in ((skmim, skmim.__all__), (metrics, metrics.__all__)):
        for name in names:
            obj = getattr(module, name)
            if inspect.ismodule(obj):
                continue
            objects.append((f"{module.__name__}.{name}", obj))
    for path, obj in list(objects):
        if not inspect.isclass(obj):
            continue
        names = sorted({name for klass in obj.__mro__ for name in vars(klass)})
        for name in names:
            member = inspect.getattr_static(obj, name)
            # methods behind sklearn's available_if (partial_fit) are descriptors
            member = getattr(member, "fn", member)
            if name.startswith("_") or not inspect.isfunction(member):
                continue
            if _defined_in_skmim(member):
                objects.append((f"{path}.{name}", member))
    return objects


def _documented_class(obj):
    """Classes are checked when skmim defines their ``__init__``."""
    return not inspect.isclass(obj) or _defined_in_skmim(obj.__init__)


OBJECTS = [(path, obj) for path, obj in _public_objects() if _documented_class(obj)]
IDS = [path for path, _ in OBJECTS]


def _signature_parameters(obj):
    target = obj.__init__ if inspect.isclass(obj) else obj
    names = [name for name in inspect.signature(target).parameters]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    return names


def _is_underline(line):
    stripped = line.strip()
    return bool(stripped) and set(stripped) == {"-"}


def _documented_parameters(doc):
    """Names listed in the numpydoc "Parameters" section of ``doc``."""
    lines = inspect.cleandoc(doc or "").splitlines()
    names = []
    for start in range(len(lines) - 1):
        if lines[start].strip() == "Parameters" and _is_underline(lines[start + 1]):
            break
    else:
        return names
    i = start + 2
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and _is_underline(lines[i + 1]):
            break  # the next section
        if line.strip() and not line[0].isspace():
            head = line.split(" : ", 1)[0].rstrip(" :")
            names.extend(part.strip() for part in head.split(",") if part.strip())
        i += 1
    return names


def _normalize(name):
    return name.strip().lstrip("*")


def test_objects_found():
    paths = set(IDS)
    assert "skmim.MultiIndexNetRegressor" in paths
    assert "skmim.MultiIndexNetRegressor.fit" in paths
    assert "skmim.MultiIndexNetRegressor.partial_fit" in paths
    assert "skmim.metrics.subspace_distance" in paths


@pytest.mark.parametrize("path, obj", OBJECTS, ids=IDS)
def test_parameters_match_signature(path, obj):
    signature = [_normalize(n) for n in _signature_parameters(obj)]
    documented = [_normalize(n) for n in _documented_parameters(obj.__doc__)]
    missing = [n for n in signature if n not in documented]
    unknown = [n for n in documented if n not in signature]
    assert not missing and not unknown, (
        f"{path}: parameters in the signature but not in the docstring: {missing}; "
        f"documented but not in the signature: {unknown}"
    )


@pytest.mark.parametrize("path, obj", OBJECTS, ids=IDS)
def test_numpydoc_parameters(path, obj):
    validate = pytest.importorskip("numpydoc.validate")
    errors = [
        f"{code}: {message}"
        for code, message in validate.validate(path)["errors"]
        if code in NUMPYDOC_CODES
    ]
    assert not errors, f"{path}:\n" + "\n".join(errors)


def test_parser_detects_drift():
    def documented(a, b, *args, key=None, **kwargs):
        """Summary.

        Parameters
        ----------
        a : int
            First.
        c, key : float, default=None
            Not in the signature, and a keyword.
        *args : tuple
            More.

        Returns
        -------
        out : int
        """

    assert _documented_parameters(documented.__doc__) == ["a", "c", "key", "*args"]
    signature = [_normalize(n) for n in _signature_parameters(documented)]
    assert signature == ["a", "b", "args", "key", "kwargs"]
    assert _documented_parameters("No sections.") == []
