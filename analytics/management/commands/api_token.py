from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from analytics.api_pages import token_rotate


class Command(BaseCommand):
    help = "Create (or replace) a user's API token and print it."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user {username!r}") from None
        self.stdout.write(token_rotate(user=user).key)
