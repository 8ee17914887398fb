from django.apps import AppConfig


class LabelsConfig(AppConfig):
    name = "labels"
    verbose_name = "Labels"

    def ready(self):
        from labels import checks  # noqa: F401 - registers the portal's system checks
