"""Which objects a purge deletes, and what it keeps of each image of a request."""

from __future__ import annotations

from imagegen.gallery.lifecycle import _erased_images, recorded_paths, several_images

PARTIAL = {
    "numImages": 4,
    "imagePath": "generated/u/r1/0.png",
    "images": [
        {"index": i, "status": "completed", "imageUrl": f"https://x/?id=r1&index={i}"}
        | {"imagePath": f"generated/u/r1/{i}.png", "width": 512}
        if i % 2 == 0
        else {"index": i, "status": "failed", "failureKind": "model-error"}
        for i in range(4)
    ],
}


def test_a_purge_finds_every_object_and_keeps_each_images_outcome():
    assert recorded_paths(PARTIAL) == {"generated/u/r1/0.png", "generated/u/r1/2.png"}
    assert several_images(PARTIAL) and not several_images({"numImages": 1})
    assert not several_images({"imagePath": "generated/u/r1.png"})
    erased = _erased_images(PARTIAL["images"])
    assert [i["status"] for i in erased] == ["completed", "failed"] * 2
    assert "imagePath" not in str(erased) and "imageUrl" not in str(erased)
    assert erased[0]["width"] == 512 and erased[1]["failureKind"] == "model-error"
