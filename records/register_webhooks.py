"""Register the Dataverse webhook that tells this service about field changes (key-update notifications).

    python -m records.register_webhooks --url https://<host>/<webhook path> --key <secret>
        [--types incident,account] [--watch account=name,telephone1] [--auth key|header] [--header NAME]
        [--org https://<org>.crm.dynamics.com] [--name connected-chats]

Through the Web API it creates or updates, idempotently (run it again after changing watched attributes):
  1. a serviceendpoint: contract Webhook (8), JSON, authenticated with a WebhookKey (sent as ?code=<key>) or an
     HttpHeader (<header>: <key>);
  2. per record type, an sdkmessageprocessingstep on the Update message's sdkmessagefilter for that table:
     asynchronous, post-operation, filteringattributes = the watched attributes, so Dataverse only calls us
     when one of them changes;
  3. a pre-image and a post-image (sdkmessageprocessingstepimage) with the same attributes, so the
     notification can say what the value was and what it is now.
Watched attributes default to the admin defaults (case: prioritycode, statecode, statuscode); other types
need --watch TYPE=attr,... Virtual tables, tables without update events and PartyList/Image/Integer/File
columns cannot be watched (NOTIFY-03). The org comes from --org or RECORD_SOURCE; auth from DATAVERSE_AUTH.
The calling identity needs the System Administrator or System Customizer role.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from urllib.parse import urlparse
from xml.sax.saxutils import quoteattr

from config import Config, ConfigError
from domain.settings import MAX_WATCHED, defaults_for
from records import SourceConfigError, check_org_url
from records.dataverse import DataverseRecordSource
from records.dataverse_http import AzureToken, DataverseClient, DataverseError, odata_string

WEBHOOK, JSON, WEBHOOK_KEY, HTTP_HEADER = 8, 2, 4, 5
POST_OPERATION, ASYNCHRONOUS, SERVER = 40, 1, 0
PRE_IMAGE, POST_IMAGE = 0, 1


class RegistrationError(Exception):
    """Something the admin must fix before registering; the message says what."""


def _parse(argv: Sequence[str] | None, cfg: Config) -> argparse.Namespace:
    first, _, rest = (__doc__ or "").partition("\n\n")
    p = argparse.ArgumentParser(prog="python -m records.register_webhooks", description=first, epilog=rest,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="the service's Dataverse webhook URL (https)")
    p.add_argument("--key", default=cfg.webhook_key or None, help="shared secret")
    p.add_argument("--types", default="incident", help="comma-separated table logical names")
    p.add_argument("--watch", action="append", default=[], metavar="TYPE=ATTR,ATTR",
                   help="watched attributes of a type (repeatable); default: the admin defaults")
    p.add_argument("--auth", choices=("key", "header"), default="key", help="WebhookKey (?code=) or HttpHeader")
    p.add_argument("--header", default=cfg.webhook_header or "x-teamsconnector-key")
    org = "" if cfg.record_source == Config.record_source else cfg.record_source.removeprefix("dataverse:")
    p.add_argument("--org", default=org)
    p.add_argument("--name", default="connected-chats", help="name of the service endpoint and prefix of steps")
    return p.parse_args(argv)


def _watched(args: argparse.Namespace, types: list[str]) -> dict[str, list[str]]:
    given: dict[str, list[str]] = {}
    for item in args.watch:
        rtype, sep, attrs = item.partition("=")
        if not sep:
            raise RegistrationError(f"--watch {item!r}: expected TYPE=attr1,attr2")
        given[rtype.strip().lower()] = [a.strip().lower() for a in attrs.split(",") if a.strip()]
    return {t: given.get(t) or list(defaults_for(t).watched) for t in types}


async def _check(source: DataverseRecordSource, rtype: str, attrs: list[str]) -> None:
    rt = await source.record_type(rtype)
    if rt is None or rt.logical_name != rtype:
        raise RegistrationError(f"{rtype}: Dataverse has no table with this logical name")
    if rt.virtual or not rt.update_events:
        raise RegistrationError(f"{rtype}: virtual tables and tables without update events cannot be watched")
    if not attrs:
        raise RegistrationError(f"{rtype}: no watched attributes; pass --watch {rtype}=attr1,attr2")
    if len(attrs) > MAX_WATCHED:
        raise RegistrationError(f"{rtype}: at most {MAX_WATCHED} watched attributes, got {len(attrs)}")
    for name in attrs:
        attr = rt.attributes.get(name)
        if attr is None:
            raise RegistrationError(f"{rtype}: no attribute {name!r}")
        if not attr.watch_supported:
            raise RegistrationError(f"{rtype}.{name}: {attr.type} columns cannot be watched")


async def _first_id(client: DataverseClient, entity_set: str, key: str, condition: str) -> str | None:
    body = await client.get(entity_set, {"$select": key, "$filter": condition, "$top": "1"})
    rows = (body or {}).get("value") or []
    return str(rows[0][key]) if rows else None


async def _upsert(client: DataverseClient, entity_set: str, key: str, condition: str, body: dict[str, object]) -> str:
    """PATCH the row matching `condition`, or POST a new one; return its id."""
    existing = await _first_id(client, entity_set, key, condition)
    if existing:
        await client.send("PATCH", f"{entity_set}({existing})", body=body, headers={"If-Match": "*"})
        return existing
    resp = await client.send("POST", entity_set, body=body)
    location = resp.headers.get("OData-EntityId", "")
    if "(" not in location:
        raise DataverseError(resp.status, f"Dataverse created a {entity_set} row but did not say its id.")
    return location.rsplit("(", 1)[1].rstrip(")")


async def register(client: DataverseClient, source: DataverseRecordSource, args: argparse.Namespace) -> list[str]:
    url = urlparse(args.url)
    if url.scheme not in ("https", "http") or not url.hostname or url.port not in (None, 80, 443):
        raise RegistrationError(f"--url {args.url!r}: Dataverse calls webhooks only on https (443) or http (80)")
    if not args.key:
        raise RegistrationError("--key (or DATAVERSE_WEBHOOK_KEY) is required")
    types = [t.strip().lower() for t in args.types.split(",") if t.strip()]
    watched = _watched(args, types)
    for rtype in types:
        await _check(source, rtype, watched[rtype])
    header_value = f"<settings><setting name={quoteattr(args.header)} value={quoteattr(args.key)} /></settings>"
    endpoint = await _upsert(client, "serviceendpoints", "serviceendpointid", f"name eq {odata_string(args.name)}", {
        "name": args.name, "url": args.url, "contract": WEBHOOK, "messageformat": JSON, "userclaim": 1,
        "connectionmode": 1,
        "authtype": WEBHOOK_KEY if args.auth == "key" else HTTP_HEADER,
        "authvalue": args.key if args.auth == "key" else header_value,
        "description": "connected-chats: key-update notifications for Teams chats connected to records"})
    message = await _first_id(client, "sdkmessages", "sdkmessageid", "name eq 'Update'")
    if message is None:
        raise RegistrationError("Dataverse has no Update sdkmessage")
    done = [f"service endpoint {args.name} ({endpoint}) -> {args.url}"]
    for rtype in types:
        filter_id = await _first_id(client, "sdkmessagefilters", "sdkmessagefilterid",
                                    f"primaryobjecttypecode eq {odata_string(rtype)} and "
                                    f"_sdkmessageid_value eq {message}")
        if filter_id is None:
            raise RegistrationError(f"{rtype}: Dataverse raises no Update event for this table")
        attrs = ",".join(watched[rtype])
        step_name = f"{args.name}: Update of {rtype}"
        step = await _upsert(client, "sdkmessageprocessingsteps", "sdkmessageprocessingstepid",
                             f"name eq {odata_string(step_name)} and _eventhandler_value eq {endpoint}", {
                                 "name": step_name, "stage": POST_OPERATION, "mode": ASYNCHRONOUS, "rank": 1,
                                 "supporteddeployment": SERVER, "asyncautodelete": True,
                                 "filteringattributes": attrs,
                                 "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint})",
                                 "sdkmessageid@odata.bind": f"/sdkmessages({message})",
                                 "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({filter_id})"})
        for image_type, alias in ((PRE_IMAGE, "PreImage"), (POST_IMAGE, "PostImage")):
            await _upsert(client, "sdkmessageprocessingstepimages", "sdkmessageprocessingstepimageid",
                          f"_sdkmessageprocessingstepid_value eq {step} and imagetype eq {image_type}", {
                              "name": alias, "entityalias": alias, "imagetype": image_type,
                              "messagepropertyname": "Target", "attributes": attrs,
                              "sdkmessageprocessingstepid@odata.bind": f"/sdkmessageprocessingsteps({step})"})
        done.append(f"{rtype}: Update step watching {attrs} with pre- and post-images")
    return done


async def main(argv: Sequence[str] | None = None, env: dict[str, str] | None = None) -> int:
    try:
        cfg = Config.from_env(env)
        args = _parse(argv, cfg)
        org = check_org_url(args.org, cfg.dataverse_auth) if args.org else ""
        if not org:
            raise RegistrationError("--org (or RECORD_SOURCE) must name the Dataverse organization URL")
        token = AzureToken(org) if cfg.dataverse_auth == "azure" else None
        source = DataverseRecordSource(org, token, [])
        try:
            for line in await register(source.client, source, args):
                print(line)
        finally:
            await source.close()
    except (RegistrationError, SourceConfigError, ConfigError, DataverseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
