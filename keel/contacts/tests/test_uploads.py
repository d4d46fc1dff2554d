"""The upload limit (keel/contacts/uploads.py): attachments are refused before they are stored."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, MemoryFileUploadHandler
from django.test import RequestFactory

from keel.contacts import validation
from keel.contacts.models import Attachment
from keel.contacts.uploads import LimitedUploadHandler, UploadTooLarge


class Recorder(FileUploadHandler):
    """Stands for the handler that stores the file: counts what reaches it."""

    received = 0

    def receive_data_chunk(self, raw_data, start):
        Recorder.received += len(raw_data)
        return raw_data

    def file_complete(self, file_size):
        return None


def test_the_handler_passes_nothing_past_the_limit_to_the_handler_that_stores_the_file():
    Recorder.received = 0
    request = RequestFactory().post("/", {"file": SimpleUploadedFile("big.bin", b"x" * 300_000)})
    request.upload_handlers = [
        LimitedUploadHandler(request, 250_000),  # the Content-Length is within the allowance: streamed
        Recorder(request),
        MemoryFileUploadHandler(request),
    ]
    with pytest.raises(UploadTooLarge) as refused:
        request.FILES  # noqa: B018  (parsing the body is what is tested)
    assert 0 < Recorder.received <= 250_000
    assert refused.value.message == "The file is 293.0 KB; files of up to 244.1 KB can be uploaded here."


def test_an_attachment_over_the_limit_is_refused_by_its_content_length(admin_client, contact):
    response = admin_client.post(
        f"/contacts/{contact.pk}/attachments/",
        {"file": SimpleUploadedFile("huge.pdf", b"%PDF-1.4 small")},
        CONTENT_LENGTH=str(60 * 1024 * 1024),
        follow=True,
    )
    assert response.redirect_chain == [(f"/contacts/{contact.pk}/", 302)]
    assert "The file is 60.0 MB; files of up to 25.0 MB can be uploaded here." in response.content.decode()
    assert not Attachment.objects.exists()


def test_an_attachment_over_the_limit_is_stopped_while_it_streams(admin_client, contact, monkeypatch, tmp_path):
    monkeypatch.setattr(validation, "MAX_ATTACHMENT_BYTES", 1000)
    response = admin_client.post(
        f"/contacts/{contact.pk}/attachments/", {"file": SimpleUploadedFile("a.bin", b"y" * 5000)}, follow=True
    )
    assert "The file is 4.9 KB; files of up to 1000 bytes can be uploaded here." in response.content.decode()
    assert not Attachment.objects.exists()
    assert not list((tmp_path / "files").rglob("a*.bin"))
