from django.views.static import serve


def serve_media(request, path):
    from django.conf import settings

    return serve(request, path, document_root=settings.MEDIA_ROOT)
