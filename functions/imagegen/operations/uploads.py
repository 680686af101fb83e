"""Reference images: a user uploads an image to edit it later. Free (no credits), but counted
against the per-minute limit like a generation; refused for a closed account. Nothing is kept
of a refused upload."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from google.cloud import firestore

from imagegen.core.auth import Caller
from imagegen.gallery import uploads
from imagegen.ledger import moves
from imagegen.operations.reads import subject_user
from imagegen.operations.wiring import charge_policy, db, images

MAX_HTTP_BYTES = uploads.MAX_HTTP_BYTES
MAX_CALLABLE_BYTES = uploads.MAX_CALLABLE_BYTES


@dataclass(frozen=True)
class UploadResult:
    upload_id: str
    width: int
    height: int
    content_type: str

    def as_dict(self) -> dict[str, Any]:
        """The answer of uploadImage and uploadReferenceImage."""
        return {
            "uploadId": self.upload_id,
            "width": self.width,
            "height": self.height,
            "contentType": self.content_type,
        }


def upload_image(
    caller: Caller, user_id: str | None, data: bytes, content_type: str | None, max_bytes: int
) -> UploadResult:
    """Check, clean and store an image for `user_id` (default: the caller). In order: the
    type and size (nothing read yet), the account and the per-minute limit (one read), the
    decode and re-encode, the object, then one commit that counts the upload against the
    limit and creates its document, conditional on the user being unchanged. A refusal at
    the commit (the limit reached meanwhile, the account closed meanwhile) deletes the
    object again."""
    uid = subject_user(caller, user_id)
    declared = uploads.check_content_type(content_type)
    uploads.check_size(len(data), max_bytes)
    client, store, policy = db(), images(), charge_policy()
    moves.check_free_request(client, uid, policy)
    image = uploads.clean(data, declared, max_bytes)
    upload_id = uuid.uuid4().hex
    path = uploads.put_object(store, uid, upload_id, image)
    document = uploads.upload_document(image, firestore.SERVER_TIMESTAMP)
    try:
        moves.admit_free_request(
            client, uid, policy, lambda: [(uploads.upload_ref(client, uid, upload_id), document)]
        )
    except BaseException:
        store.delete(path)
        raise
    return UploadResult(upload_id, image.width, image.height, image.content_type)
