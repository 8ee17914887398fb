"""The operators' admin site, with the same sign-in limits as the fan site and the portal."""

from django.contrib.admin.apps import AdminConfig


class OperatorAdminConfig(AdminConfig):
    default_site = "config.admin_site.OperatorAdminSite"
