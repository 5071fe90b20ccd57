"""The `axis` command: one entry point whose sub-commands a newcomer can guess."""

from __future__ import annotations

import click

from axis.cli.output import emit, fail
from axis.config import Config, unknown_variables
from axis.core.errors import ConfigError


def load_config() -> Config:
    try:
        return Config.from_env()
    except ConfigError as exc:
        fail(exc.message)
        raise  # unreachable; keeps type checkers content


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """The document axis: signed edXML letters between agencies.

    \b
    Examples:
      axis serve                 serve the API on AXIS_LISTEN (default 127.0.0.1:8080)
      axis migrate --status      show which database migrations are applied
      axis doc inspect FILE.xml  summarise an edXML package as JSON
    """


@cli.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def config_cmd(as_json: bool) -> None:
    """Print the effective configuration, secrets masked.

    Example: AXIS_LISTEN=0.0.0.0:9000 axis config
    """
    cfg = load_config()
    data = cfg.masked()
    for name in unknown_variables():
        click.echo(f"warning: {name} is not a variable the axis reads", err=True)
    emit(data, as_json=as_json)


def _register() -> None:
    """Attach the sub-command groups that live in their own modules."""
    from axis.cli import agency, client, service

    cli.add_command(service.serve)
    cli.add_command(service.migrate)
    cli.add_command(agency.agency)
    for command in (client.send, client.inbox, client.fetch, client.ack):
        cli.add_command(command)

    from axis.cli import bench, bench_edoc, doc

    cli.add_command(doc.doc)
    cli.add_command(bench.bench)
    bench.bench.add_command(bench_edoc.edoc)

    from axis.cli import bench_signing, ca, sign

    cli.add_command(ca.ca)
    doc.doc.add_command(sign.sign)
    doc.doc.add_command(sign.verify)
    bench.bench.add_command(bench_signing.signing)

    from axis.cli import bench_axis

    bench.bench.add_command(bench_axis.axis_bench)

    from axis.cli import audit

    cli.add_command(audit.audit)

    from axis.cli import user

    cli.add_command(user.user)

    from axis.cli import vdxp

    cli.add_command(vdxp.vdxp)

    from axis import plugins

    for plugin in plugins.load():  # `axis cabinet …`, `axis meeting …` of meetings/, and others
        for command in plugin.commands():
            if command.name == "bench" and isinstance(command, click.Group):
                # A plug-in's benchmarks join `axis bench` (e.g. `axis bench meetings`).
                for sub in command.commands.values():
                    bench.bench.add_command(sub)
            else:
                cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="axis")
