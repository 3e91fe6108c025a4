"""manage.py create_agent --name NAME --namespace PREFIX: register an agent with its own API key, shown once."""

from django.core.management.base import BaseCommand, CommandError

from action_registry.errors import RegistryError
from registry.agent_services import agent_register


class Command(BaseCommand):
    help = "Register an agent identity and issue its API key (declare capabilities, negotiate, stream events)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="Agent name, e.g. log-analyzer.")
        parser.add_argument("--namespace", action="append", default=[], dest="namespaces", required=True,
                            help="Namespace prefix the agent's key may publish under (repeat).")
        parser.add_argument("--description", default="")
        parser.add_argument("--quiet", action="store_true", help="Print only the API key.")

    def handle(self, *args, **opts):
        try:
            agent, token = agent_register(name=opts["name"], namespaces=opts["namespaces"],
                                          description=opts["description"], actor="cli:create_agent")
        except RegistryError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        if not opts["quiet"]:
            self.stdout.write(f"agent {agent.name}, API key:")
        self.stdout.write(token)
