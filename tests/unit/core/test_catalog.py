"""Unit tests of the catalog: documents, inactive entries, the cache."""

from __future__ import annotations

from imagegen.core.catalog import (
    DEFAULT_CATALOG,
    CatalogCache,
    catalog_documents,
    catalog_from_documents,
)


def test_catalog_documents_round_trip():
    assert catalog_from_documents(catalog_documents(DEFAULT_CATALOG)) == DEFAULT_CATALOG


def test_catalog_skips_inactive_and_badly_priced_entries():
    docs = catalog_documents(DEFAULT_CATALOG)
    docs["styles"]["anime"]["active"] = False
    docs["sizes"]["1024x1024"]["credits"] = "3"
    docs["sizes"]["9x9"] = {"credits": 0}
    cat = catalog_from_documents(docs)
    assert "anime" not in cat.styles
    assert list(cat.sizes) == ["512x512", "1024x1792"]


def test_catalog_cache_reloads_after_ttl():
    now = [0.0]
    loads = []
    cache = CatalogCache(lambda: loads.append(1) or DEFAULT_CATALOG, ttl=30, clock=lambda: now[0])
    cache.get()
    now[0] = 29.9
    cache.get()
    assert len(loads) == 1
    now[0] = 30.0
    cache.get()
    assert len(loads) == 2


def test_which_models_edit_and_a_replicate_model_s_image_input():
    from imagegen.core.catalog import DEFAULT_EDIT_INPUT, model_from_document

    docs = catalog_documents(DEFAULT_CATALOG)
    assert all(docs["models"][m]["edits"] is True for m in ("model-a", "model-b"))
    kontext = model_from_document(
        "k", {"provider": "replicate", "edits": True, "editInput": "image_prompt"}
    )
    assert kontext is not None and kontext.edits and kontext.edit_input == "image_prompt"
    plain = model_from_document("p", {"provider": "openai", "edits": "yes"})
    assert plain is not None and not plain.edits and plain.edit_input == DEFAULT_EDIT_INPUT


def test_a_replicate_model_s_image_count_input():
    from imagegen.core.catalog import (
        DEFAULT_BATCH_INPUT,
        Catalog,
        ModelEntry,
        model_from_document,
    )

    def parsed(**fields: object) -> str | None:
        entry = model_from_document("r", {"provider": "replicate", **fields})
        assert entry is not None
        return entry.batch_input

    assert parsed() == DEFAULT_BATCH_INPUT == "num_outputs"
    assert parsed(batchInput="num_images") == "num_images"
    assert parsed(batchInput=False) is None  # no such input: parallel predictions
    assert parsed(batchInput="") is None
    assert parsed(batchInput=4) == DEFAULT_BATCH_INPUT  # not a name: the default
    for batch in (None, "num_images", DEFAULT_BATCH_INPUT):
        entry = ModelEntry("r", "replicate", "a/b", batch_input=batch)
        docs = catalog_documents(Catalog((), (), {}, {"r": entry}))
        assert catalog_from_documents(docs).models["r"] == entry
