from django.core.management.base import BaseCommand, CommandError

from webapp.documents.services.integrity import verify_printables
from webapp.inbox.services.integrity import stored_file_checker, verify_blobs, verify_previews


class Command(BaseCommand):
    help = (
        "Check that every stored Blob is in storage with the right size and sha256 (streamed), and that every "
        "preview and printable the database says was made is there. With --repair, fetch the broken Blobs again "
        "from their source and set missing previews back to pending and printables back to on request, so they "
        "are made again. "
        "Exits 1 while anything is still broken."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--repair",
            action="store_true",
            help="fetch missing or damaged objects again from the source; make missing previews and printables again",
        )

    def handle(self, *args, repair: bool = False, **options):
        broken = self._blobs(repair=repair)
        broken += self._derived(repair=repair)
        if broken:
            raise CommandError(f"{broken} stored files are missing or damaged")

    def _blobs(self, *, repair: bool) -> int:
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
        return broken

    def _derived(self, *, repair: bool) -> int:
        check = stored_file_checker()  # a thumbnail shared by a Document and its attachments is asked once
        # Printables first: their reset takes the previews of the XML attachments that were their thumbnails.
        problems = [*verify_printables(reset=repair, check=check), *verify_previews(reset=repair, check=check)]
        for problem in problems:
            line = f"{problem.what} ({problem.storage_name}): {problem.problem}"
            if problem.reset:
                line += f" -> {problem.remedy}"
            self.stdout.write(line)
        reset = sum(1 for problem in problems if problem.reset)
        self.stdout.write(
            f"previews and printables: {len(problems)} missing, {reset} reset to be made again, "
            f"{len(problems) - reset} still missing"
        )
        return len(problems) - reset
