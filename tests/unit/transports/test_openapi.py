"""docs/openapi.yaml states what the code enforces: every error code, the seeded catalog, the
fixed vocabularies and the bounds come from the modules that enforce them (so the file, the
fuzzing that reads it, and the code cannot drift apart silently). No emulator needed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
SPEC: dict[str, Any] = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())


def schema(name: str) -> dict[str, Any]:
    return SPEC["components"]["schemas"][name]


def parameter(path: str, name: str) -> dict[str, Any]:
    """The schema of a parameter of an operation (references followed)."""
    (operation,) = SPEC["paths"][path].values()
    for param in operation.get("parameters", []):
        if "$ref" in param:
            param = SPEC["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]]
        if param["name"] == name:
            found = param["schema"]
            if "$ref" in found:
                return schema(found["$ref"].rsplit("/", 1)[1])
            return found
    raise KeyError(name)


def test_the_error_codes_are_the_code_s():
    from imagegen.core.errors import ErrorCode

    documented = schema("Error")["properties"]["error"]["properties"]["code"]["enum"]
    assert sorted(documented) == sorted(ErrorCode)


def test_every_status_an_error_code_maps_to_is_documented_somewhere():
    from imagegen.transports.http_api import HTTP_STATUS

    documented = {
        int(status)
        for item in SPEC["paths"].values()
        for operation in item.values()
        for status in operation["responses"]
    }
    assert set(HTTP_STATUS.values()) <= documented


def test_the_seeded_catalog_and_the_fixed_vocabularies():
    from imagegen.billing.purchase_rules import pack_documents
    from imagegen.core.catalog import DEFAULT_CATALOG, SIMULATED_MODELS
    from imagegen.core.vocabulary import EntryType, FailureKind, RequestStatus

    fields = schema("GenerationInput")["properties"]
    assert schema("ModelId")["enum"] == [m.id for m in SIMULATED_MODELS]
    assert fields["style"]["enum"] == list(DEFAULT_CATALOG.styles)
    assert fields["color"]["enum"] == list(DEFAULT_CATALOG.colors)
    assert fields["size"]["enum"] == list(DEFAULT_CATALOG.sizes)
    checkout = SPEC["paths"]["/createCheckoutSession"]["post"]["requestBody"]
    pack = checkout["content"]["application/json"]["schema"]["properties"]["packId"]
    assert pack["enum"] == list(pack_documents())
    request = schema("GenerationRequest")["properties"]
    assert request["status"]["enum"] == list(RequestStatus)
    assert parameter("/listGenerationRequests", "status")["enum"] == list(RequestStatus)
    assert request["failureKind"]["enum"] == list(FailureKind)
    assert schema("LedgerEntry")["properties"]["type"]["enum"] == list(EntryType)


def test_the_bounds_are_the_code_s():
    from imagegen.generation import idempotency
    from imagegen.ledger import moves
    from imagegen.operations import admin
    from imagegen.records import history
    from imagegen.records.validation import MAX_PROMPT_LENGTH, MAX_USER_ID_LENGTH, is_document_id
    from imagegen.reporting import migration

    fields = schema("GenerationInput")["properties"]
    assert fields["prompt"]["maxLength"] == MAX_PROMPT_LENGTH
    assert schema("DocumentId")["maxLength"] == MAX_USER_ID_LENGTH
    for path in ("/getUserCredits", "/listGenerationRequests"):
        assert parameter(path, "pageSize")["maximum"] == history.MAX_PAGE_SIZE
        assert parameter(path, "pageSize")["default"] == history.DEFAULT_PAGE_SIZE
    key = SPEC["components"]["parameters"]["IdempotencyKey"]["schema"]
    assert key["maxLength"] == idempotency.MAX_KEY_LENGTH
    grant = SPEC["paths"]["/grantCredits"]["post"]["requestBody"]["content"]
    grant_fields = grant["application/json"]["schema"]["properties"]
    assert grant_fields["credits"]["maximum"] == moves.MAX_GRANT
    assert grant_fields["reason"]["maxLength"] == admin.MAX_REASON_LENGTH
    assert parameter("/migrateRequestOutcomes", "maxDocuments")["maximum"] == (
        migration.MAX_DOCUMENTS
    )
    assert parameter("/recoverPendingRequests", "olderThanSeconds")["maximum"] == int(
        admin.MAX_RECOVERY_AGE.total_seconds()
    )
    # The DocumentId pattern and exclusions say what is_document_id says.
    ids = schema("DocumentId")
    pattern = re.compile(ids["pattern"].replace("\\u0000", "\x00"))
    excluded = ids["not"]["anyOf"]
    for value in ("testUser1", "a.b", "__x", "é", "a" * 128, ".", "..", "__x__", "a/b", "a\x00"):
        spec_ok = (
            bool(pattern.search(value))
            and 1 <= len(value) <= ids["maxLength"]
            and value not in excluded[0]["enum"]
            and not re.search(excluded[1]["pattern"], value)
        )
        assert spec_ok == is_document_id(value), value


def test_no_mapping_in_the_file_names_a_key_twice():
    """YAML keeps the last of two equal keys silently: a second definition of a field would
    hide the first from readers and from the fuzzing alike."""
    duplicates: list[str] = []

    class Strict(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        keys = [loader.construct_object(key) for key, _ in node.value]
        duplicates.extend(
            f"{k} (line {node.start_mark.line + 1})" for k in keys if keys.count(k) > 1
        )
        return {loader.construct_object(k): loader.construct_object(v) for k, v in node.value}

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    yaml.load((ROOT / "docs" / "openapi.yaml").read_text(), Loader=Strict)  # noqa: S506
    assert duplicates == []
