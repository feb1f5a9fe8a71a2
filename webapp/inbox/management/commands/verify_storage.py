from django.core.management.base import BaseCommand, CommandError

from webapp.inbox.services.integrity import verify_blobs


class Command(BaseCommand):
    help = (
        "Check that every stored Blob is in storage with the right size and sha256 (streamed). "
        "With --repair, fetch the broken ones again from their source. Exits 1 while any is still broken."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--repair", action="store_true", help="fetch missing or damaged objects again from the source"
        )

    def handle(self, *args, repair: bool = False, **options):
        checked = broken = repaired = 0
        for blob, problem in verify_blobs(repair=repair):
            checked += 1
            if problem is None:
                continue
            line = f"blob {blob.pk} {blob.sha256} ({blob.storage_name}): {problem.problem}"
            if problem.repaired:
                repaired += 1
                line += f" -> repaired: {problem.repair_note}"
            else:
                broken += 1
                if repair:
                    line += f" -> not repaired: {problem.repair_note}"
            self.stdout.write(line)
        self.stdout.write(
            f"{checked} blobs checked, {broken + repaired} with problems, {repaired} repaired, {broken} still broken"
        )
        if broken:
            raise CommandError(f"{broken} stored objects are missing or damaged")
