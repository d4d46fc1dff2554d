"""Upload limits enforced before an upload is stored.

Django parses a multipart body as soon as ``request.POST`` or ``request.FILES`` is first read, writing every file to
memory or a temporary file; a size check in the view comes too late (a 60 MB file would be on disk already). The
decorators here refuse an upload first by its ``Content-Length``, before a byte of the body is read, and then while
it streams: ``LimitedUploadHandler`` stops the parser as soon as one file passes the limit.

* ``limit_page_uploads(limit, refused)`` for a page (a Django view);
* ``limit_api_uploads(limit)`` for a JSON API operation (``@decorate_view(limit_api_uploads(...))``).

``limit`` is a function returning the byte limit, read at request time (so settings can change it); ``refusal``
makes the ``UploadTooLarge`` error (413, code ``file_too_large``, field ``file``) from the limit and the size.
Pages answer it with ``refused``, the API in its JSON error shape. See docs/crm.md ("Upload limits").
"""

from functools import wraps

from django.core.files.uploadhandler import FileUploadHandler
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from keel.errors import KeelError

# Room for the multipart framing and the form's other fields around the file.
MULTIPART_ALLOWANCE = 64 * 1024


class UploadTooLarge(KeelError):
    status = 413
    code = "file_too_large"


def human_size(size):
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024


def too_large(limit, size):
    """The default refusal: names the file's size and the limit."""
    return UploadTooLarge(
        f"The file is {human_size(size)}; files of up to {human_size(limit)} can be uploaded here.", field="file"
    )


class LimitedUploadHandler(FileUploadHandler):
    """First in ``request.upload_handlers``: refuses the request by its Content-Length before reading it, and
    stops storing a file at the first chunk that takes it over ``limit`` bytes: nothing past the limit reaches the
    next handler (the one that writes the temporary file). The rest of that file, at most the Content-Length's
    allowance, is only counted, so that the refusal can name the file's size."""

    def __init__(self, request, limit, refusal=too_large):
        super().__init__(request)
        self.limit = limit
        self.refusal = refusal
        self.received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > self.limit + MULTIPART_ALLOWANCE:
            raise self.refusal(self.limit, content_length)

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        return raw_data if self.received <= self.limit else None

    def file_complete(self, file_size):
        if self.received > self.limit:
            raise self.refusal(self.limit, self.received)
        return None  # the next handler has stored the file


def _install(request, limit, refusal):
    """Refuse by Content-Length now (nothing of the body is read), else put the handler first."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit + MULTIPART_ALLOWANCE:
        raise refusal(limit, length)
    request.upload_handlers.insert(0, LimitedUploadHandler(request, limit, refusal))


def limit_page_uploads(limit, refused, refusal=too_large):
    """Decorate a page that takes an upload. ``refused(request, error, *args, **kwargs)`` answers a refused one.

    The CSRF check reads the body, so it must run after the handler is in place: the page is CSRF-exempt for the
    middleware and checked by ``csrf_protect`` here instead (the pattern of Django's upload-handler documentation).
    """

    def decorator(view):
        protected = csrf_protect(view)

        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method != "POST":
                return protected(request, *args, **kwargs)
            try:
                _install(request, limit(), refusal)
                return protected(request, *args, **kwargs)
            except UploadTooLarge as error:
                return refused(request, error, *args, **kwargs)

        return wrapper

    return decorator


def limit_api_uploads(limit, refusal=too_large):
    """Wrap a Ninja operation's ``run``: the limit is in place before authentication or the parameters read the
    body, and a refusal answers 413 in the API's JSON error shape."""

    def decorator(run):
        @wraps(run)
        def wrapper(request, *args, **kwargs):
            try:
                _install(request, limit(), refusal)
                return run(request, *args, **kwargs)
            except UploadTooLarge as error:
                return JsonResponse({"error": error.as_dict()}, status=error.status)

        return wrapper

    return decorator
