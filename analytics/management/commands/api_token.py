from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from analytics.api_pages import token_rotate
from labels.models import Membership


class Command(BaseCommand):
    help = "Create (or replace) a user's API token and print it."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user {username!r}") from None
        if not Membership.objects.filter(user=user).exists():
            raise CommandError(f"{username!r} is staff of no label: the API would show nothing")
        self.stdout.write(token_rotate(user=user).key)
