import warnings

import pytest
from asgiref.sync import async_to_sync

from catalog.media import parse_range
from tests.catalog.audio_samples import wav_bytes


@pytest.fixture
def audio(_media_root):
    path = _media_root / "audio" / "1" / "song.wav"
    path.parent.mkdir(parents=True)
    data = wav_bytes(seconds=2)
    path.write_bytes(data)
    return data


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_full_file(client, audio):
    response = client.get("/media/audio/1/song.wav")
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(len(audio))
    assert response["ETag"] and response["Last-Modified"]
    assert body(response) == audio


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=10-19", 10, 19), ("bytes=100-", 100, None), ("bytes=-50", -50, None)],
    ids=["closed", "open", "suffix"],
)
def test_single_ranges(client, audio, header, start, end):
    response = client.get("/media/audio/1/song.wav", HTTP_RANGE=header)
    expected = audio[start : end + 1] if end is not None else audio[start:]
    first = start if start >= 0 else len(audio) + start
    assert response.status_code == 206
    assert body(response) == expected
    assert response["Content-Length"] == str(len(expected))
    assert response["Content-Range"] == f"bytes {first}-{first + len(expected) - 1}/{len(audio)}"


def test_range_past_end_is_clamped(client, audio):
    response = client.get("/media/audio/1/song.wav", HTTP_RANGE="bytes=10-999999999")
    assert response.status_code == 206
    assert body(response) == audio[10:]


@pytest.mark.parametrize("header", [f"bytes={10**9}-", "bytes=-0"])
def test_unsatisfiable_range(client, audio, header):
    response = client.get("/media/audio/1/song.wav", HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(audio)}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-2", "bytes=x-"])
def test_unsupported_or_invalid_range_serves_whole_file(client, audio, header):
    response = client.get("/media/audio/1/song.wav", HTTP_RANGE=header)
    assert response.status_code == 200
    assert body(response) == audio


def test_if_range_with_stale_etag_serves_whole_file(client, audio):
    response = client.get(
        "/media/audio/1/song.wav", HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"stale"'
    )
    assert response.status_code == 200
    etag = response["ETag"]
    response = client.get("/media/audio/1/song.wav", HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=etag)
    assert response.status_code == 206


def test_conditional_get(client, audio):
    etag = client.get("/media/audio/1/song.wav")["ETag"]
    response = client.get("/media/audio/1/song.wav", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304


def test_head(client, audio):
    response = client.head("/media/audio/1/song.wav")
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(audio))
    assert response.content == b""
    response = client.head("/media/audio/1/song.wav", HTTP_RANGE="bytes=0-99")
    assert response.status_code == 206
    assert response["Content-Length"] == "100"


@pytest.mark.parametrize(
    "path",
    [
        "/media/../../../etc/passwd",
        "/media/audio/../../secret.txt",
        "/media/%2e%2e/%2e%2e/etc/passwd",
        "/media/audio/1/missing.wav",
        "/media/audio/1/",
        "/media/audio/.hidden",
    ],
)
def test_traversal_and_missing_are_404(client, audio, _media_root, path):
    (_media_root.parent / "secret.txt").write_text("secret")
    response = client.get(path)
    assert response.status_code == 404
    assert b"secret" not in body(response)


def test_post_not_allowed(client, audio):
    assert client.post("/media/audio/1/song.wav").status_code == 405


def test_unknown_types_are_downloads(client, _media_root):
    (_media_root / "page.html").parent.mkdir(parents=True, exist_ok=True)
    (_media_root / "page.html").write_text("<script>alert(1)</script>")
    response = client.get("/media/page.html")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == "attachment"


def test_parse_range_edges():
    assert parse_range("bytes=-10", 5) == (0, 4)
    assert parse_range("bytes=0-0", 5) == (0, 0)
    assert parse_range("", 5) is None


def test_streams_over_asgi(audio):
    """The real server path: Django's ASGI handler iterates the response asynchronously."""
    from asgiref.testing import ApplicationCommunicator
    from django.core.asgi import get_asgi_application

    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": "/media/audio/1/song.wav",
        "raw_path": b"/media/audio/1/song.wav",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"range", b"bytes=4-1003")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }

    async def run():
        communicator = ApplicationCommunicator(get_asgi_application(), scope)
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(5)
        received = b""
        while True:
            message = await communicator.receive_output(5)
            received += message.get("body", b"")
            if not message.get("more_body"):
                break
        return start, received

    with warnings.catch_warnings():
        # Django warns when it must buffer a sync iterator whole; the response must not need it.
        warnings.filterwarnings("error", message="StreamingHttpResponse must consume")
        start, received = async_to_sync(run)()
    assert start["status"] == 206
    assert received == audio[4:1004]
