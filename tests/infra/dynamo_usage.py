"""Which DynamoDB actions each function's code needs, per table, read from the source (no AWS, no run).

From ``functions/<name>/handler.py`` the analysis follows every name the reached code mentions to the
definitions of that name in the modules it imports (a method only once its class is mentioned too):
an over-approximation of what can run, never an under-one. In the reached code of ``bmsync.store``
(the only package that touches DynamoDB) each boto3 table call is attributed to its table: through the
``self._x = table(TABLE)`` of the repository's ``__init__``, or through the argument a helper such as
``query_all(self._x, ...)`` receives; a method handed over rather than called
(``paginate(self._table.query, ...)``) counts as called. Powertools' idempotency layer makes its own
calls: those are read from the installed Powertools source and attributed to the table it is given. A call the
analysis cannot attribute fails it, so nothing escapes by being written differently.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bmsync.store import tables as table_module
from bmsync.store.tables import TableDef
from infra.config import REPO

LAYER = REPO / "layer"
FUNCTIONS_DIR = REPO / "functions"

#: boto3 (resource ``Table`` and client) methods and the IAM action each needs.
OPERATIONS = {
    "get_item": "dynamodb:GetItem",
    "put_item": "dynamodb:PutItem",
    "update_item": "dynamodb:UpdateItem",
    "delete_item": "dynamodb:DeleteItem",
    "query": "dynamodb:Query",
    "scan": "dynamodb:Scan",
    "batch_get_item": "dynamodb:BatchGetItem",
    "batch_write_item": "dynamodb:BatchWriteItem",
    "batch_writer": "dynamodb:BatchWriteItem",
    "load": "dynamodb:DescribeTable",
    "reload": "dynamodb:DescribeTable",
}
#: Calls whose tables are inside the request: the analysis would have to be taught to read them.
UNSUPPORTED = {"transact_write_items", "transact_get_items", "execute_statement", "batch_execute_statement"}
#: Resource-level calls that name their tables in ``RequestItems``: attributed to the table argument.
RESOURCE_BATCH = {"batch_get_item", "batch_write_item"}

#: Powertools' idempotency persistence layer: the class bmsync constructs, and where its calls are.
POWERTOOLS_PERSISTENCE = "DynamoDBPersistenceLayer"
POWERTOOLS_MODULE = "aws_lambda_powertools.utilities.idempotency.persistence.dynamodb"

#: Methods Python calls without naming them.
IMPLICIT_METHODS = {"__init__", "__post_init__", "__call__", "__enter__", "__exit__", "__iter__", "__next__"}

TABLE_CONSTANTS = {
    name: value.logical_name for name, value in vars(table_module).items() if isinstance(value, TableDef)
}

Access = dict[str, set[str]]


class UnattributedCall(AssertionError):
    """A DynamoDB call in the reached code whose table the analysis cannot tell."""


@dataclass(eq=False)
class Definition:
    module: str
    node: ast.FunctionDef | ast.AsyncFunctionDef
    owner: str | None  # the class of a method

    @property
    def where(self) -> str:
        return f"{self.module}:{self.node.lineno} {self.node.name}"


@dataclass
class _Module:
    name: str
    tree: ast.Module
    definitions: list[Definition] = field(default_factory=list)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(LAYER).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _load(name: str, path: Path) -> _Module:
    module = _Module(name, ast.parse(path.read_text(), str(path)))

    def collect(body: list[ast.stmt], owner: str | None) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                module.definitions.append(Definition(name, node, owner))
            elif isinstance(node, ast.ClassDef):
                module.classes[node.name] = node
                collect(node.body, node.name)

    collect(module.tree.body, None)
    return module


def _names(node: ast.AST) -> set[str]:
    found = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
    return found


def _imports(tree: ast.AST, modules: dict[str, _Module]) -> set[str]:
    """The bmsync modules ``tree`` imports, anywhere in it (also ``from package import module``)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    closed = set()
    for name in found:
        parts = name.split(".")
        closed.update(".".join(parts[:end]) for end in range(1, len(parts) + 1))
    return closed & set(modules)


class _Program:
    """Every bmsync module, and a function's handler."""

    def __init__(self, handler: Path) -> None:
        self.modules = {
            _module_name(path): _load(_module_name(path), path)
            for path in sorted((LAYER / "bmsync").rglob("*.py"))
        }
        self.modules["handler"] = _load("handler", handler)
        self.imported = self._import_closure("handler")

    def _import_closure(self, start: str) -> set[str]:
        seen, pending = set(), [start]
        while pending:
            name = pending.pop()
            if name not in seen:
                seen.add(name)
                pending.extend(_imports(self.modules[name].tree, self.modules) - seen)
        return seen

    def reached(self) -> list[Definition]:
        """The definitions the handler can run, by name (methods once their class is named too)."""
        modules = [self.modules[name] for name in sorted(self.imported)]
        names: set[str] = set()
        for module in modules:
            for node in module.tree.body:
                # A decorated function is registered by its decorator (a route), never called by name.
                runs = not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                if runs or (not isinstance(node, ast.ClassDef) and node.decorator_list):
                    names |= _names(node)
        reached: dict[int, Definition] = {}
        classes_seen: set[tuple[str, str]] = set()
        while True:
            grown = False
            for module in modules:
                for class_name, class_node in module.classes.items():
                    if class_name in names and (module.name, class_name) not in classes_seen:
                        classes_seen.add((module.name, class_name))
                        names |= IMPLICIT_METHODS
                        names |= _names(
                            ast.Module([s for s in class_node.body if not isinstance(s, ast.FunctionDef)], [])
                        )
                        names |= set().union(*(_names(base) for base in class_node.bases))
                        grown = True
                for definition in module.definitions:
                    if id(definition) in reached or definition.node.name not in names:
                        continue
                    if definition.owner and (module.name, definition.owner) not in classes_seen:
                        continue
                    reached[id(definition)] = definition
                    names |= _names(definition.node)
                    grown = True
            if not grown:
                return list(reached.values())


def _table_attributes(class_node: ast.ClassDef) -> dict[str, str]:
    """``self._x = ... table(TABLE) ...`` in ``__init__``: attribute -> table."""
    found = {}
    for node in class_node.body:
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            for assign in ast.walk(node):
                if not isinstance(assign, ast.Assign):
                    continue
                for target in assign.targets:
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                        tables = {
                            TABLE_CONSTANTS[arg.id]
                            for call in ast.walk(assign.value)
                            if isinstance(call, ast.Call)
                            and isinstance(call.func, ast.Name)
                            and call.func.id == "table"
                            for arg in call.args
                            if isinstance(arg, ast.Name) and arg.id in TABLE_CONSTANTS
                        }
                        if len(tables) == 1:
                            found[target.attr] = tables.pop()
    return found


def _calls(node: ast.AST) -> Iterator[ast.Call]:
    yield from (child for child in ast.walk(node) if isinstance(child, ast.Call))


def _table_methods(node: ast.AST) -> Iterator[ast.Attribute]:
    """Every boto3 table method named, called or handed over (``paginate(self._table.query, ...)``)."""
    for child in ast.walk(node):
        if isinstance(child, ast.Attribute) and (child.attr in OPERATIONS or child.attr in UNSUPPORTED):
            yield child


def _parameters(definition: Definition) -> list[str]:
    arguments = definition.node.args
    return [a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)]


def _powertools_actions() -> set[str]:
    spec = importlib.util.find_spec(POWERTOOLS_MODULE)
    assert spec and spec.origin, POWERTOOLS_MODULE
    tree = ast.parse(Path(spec.origin).read_text())
    return {
        OPERATIONS[call.func.attr]
        for call in _calls(tree)
        if isinstance(call.func, ast.Attribute) and call.func.attr in OPERATIONS
        if isinstance(call.func.value, ast.Attribute) and call.func.value.attr == "client"
    }


def needed_access(function: str) -> Access:
    """The DynamoDB actions ``function`` needs, per table (logical name)."""
    program = _Program(FUNCTIONS_DIR / function / "handler.py")
    reached = program.reached()
    store = [d for d in reached if d.module.startswith("bmsync.store")]
    access: Access = {}
    # Helpers that act on a table they receive: (definition, parameter) -> actions.
    on_parameter: dict[tuple[str, str], set[str]] = {}
    for definition in store:
        attributes = (
            _table_attributes(program.modules[definition.module].classes[definition.owner])
            if definition.owner
            else {}
        )
        parameters = _parameters(definition)
        table_parameters = [
            p
            for p in parameters
            if any(
                isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == p
                for n in ast.walk(definition.node)
            )
        ]
        for method in _table_methods(definition.node):
            operation = method.attr
            if operation in UNSUPPORTED:
                raise UnattributedCall(f"{definition.where}: {operation} is not understood by this analysis")
            receiver = method.value
            action = OPERATIONS[operation]
            if (
                isinstance(receiver, ast.Attribute)
                and isinstance(receiver.value, ast.Name)
                and receiver.value.id == "self"
                and receiver.attr in attributes
            ):
                access.setdefault(attributes[receiver.attr], set()).add(action)
            elif isinstance(receiver, ast.Name) and receiver.id in parameters:
                on_parameter.setdefault((definition.node.name, receiver.id), set()).add(action)
            elif operation in RESOURCE_BATCH and table_parameters:
                for parameter in table_parameters:
                    on_parameter.setdefault((definition.node.name, parameter), set()).add(action)
            else:
                raise UnattributedCall(f"{definition.where}: cannot tell the table of {ast.unparse(method)}")
    helpers = {d.node.name: d for d in store if any(key[0] == d.node.name for key in on_parameter)}
    for definition in store:
        attributes = (
            _table_attributes(program.modules[definition.module].classes[definition.owner])
            if definition.owner
            else {}
        )
        for call in _calls(definition.node):
            if not (isinstance(call.func, ast.Name) and call.func.id in helpers):
                continue
            helper = helpers[call.func.id]
            passed = dict(zip(_parameters(helper), call.args, strict=False))
            passed.update({k.arg: k.value for k in call.keywords if k.arg})
            for parameter, argument in passed.items():
                actions = on_parameter.get((helper.node.name, parameter))
                if not actions:
                    continue
                if not (isinstance(argument, ast.Attribute) and argument.attr in attributes):
                    raise UnattributedCall(
                        f"{definition.where}: cannot tell the table passed to {helper.node.name}"
                    )
                access.setdefault(attributes[argument.attr], set()).update(actions)
    for definition in reached:
        for call in _calls(definition.node):
            if isinstance(call.func, ast.Name) and call.func.id == POWERTOOLS_PERSISTENCE:
                table_name = next((k.value for k in call.keywords if k.arg == "table_name"), None)
                if not (
                    isinstance(table_name, ast.Attribute)
                    and isinstance(table_name.value, ast.Name)
                    and table_name.value.id in TABLE_CONSTANTS
                ):
                    raise UnattributedCall(
                        f"{definition.where}: cannot tell the table of {POWERTOOLS_PERSISTENCE}"
                    )
                access.setdefault(TABLE_CONSTANTS[table_name.value.id], set()).update(_powertools_actions())
    return access
