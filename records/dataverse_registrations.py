"""Keeps Dataverse's webhook steps matching the settings (issue 14): reads the steps registered on our service
endpoint, compares them with domain.registrations.desired_steps, and creates, changes or removes steps and their
pre/post images until they match. Idempotent; runs at start and after every settings save, in the background,
retrying with backoff, so a settings save never waits for Dataverse. `status()` feeds the admin status view.

The service endpoint and its key stay with `python -m records.register_webhooks` (first-time set-up); the
application user needs create/write/delete on sdkmessageprocessingstep and sdkmessageprocessingstepimage
(System Customizer has them) and read on sdkmessage, sdkmessagefilter and serviceendpoint.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from domain.ports import GatewayError, SettingsStore
from domain.registrations import DEFAULT_CONTRIBUTORS, Contributor, DesiredStep, ExistingStep, Plan, desired_steps, plan
from records.dataverse import DataverseRecordSource
from records.dataverse_http import DataverseError, odata_string

log = logging.getLogger(__name__)
POST_OPERATION, ASYNCHRONOUS, SERVER = 40, 1, 0
IMAGES = ((0, "PreImage"), (1, "PostImage"))
STEP_SELECT = "sdkmessageprocessingstepid,name,filteringattributes,_sdkmessagefilterid_value"


class RegistrationProblem(Exception):
    """Something an admin must fix in Dataverse; retrying alone will not help."""


class RegistrationSync:
    def __init__(self, source: DataverseRecordSource, settings: SettingsStore, endpoint_name: str = "connected-chats",
                 contributors: Sequence[Contributor] = DEFAULT_CONTRIBUTORS, first_retry: float = 2.0,
                 max_retry: float = 300.0) -> None:
        self._source, self._client, self._settings = source, source.client, settings
        self._endpoint_name, self._contributors = endpoint_name, tuple(contributors)
        self._first, self._max = first_retry, max_retry
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._status: dict[str, Any] = {"state": "pending", "drift": [], "last_error": "", "last_run": None,
                                        "attempts": 0, "steps": []}

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())
        self.request()

    def request(self) -> None:
        """Reconcile soon (settings changed); returns at once."""
        self._wanted.set()

    def status(self) -> dict[str, Any]:
        return dict(self._status)

    async def close(self) -> None:
        if self._task:
            self._task.cancel()

    async def _loop(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            delay = self._first
            while not await self._attempt():
                try:  # retry after the backoff, or at once when the settings change again
                    await asyncio.wait_for(self._wanted.wait(), delay)
                except TimeoutError:
                    pass
                self._wanted.clear()
                delay = min(delay * 2, self._max)

    async def _attempt(self) -> bool:
        """One reconciliation; False when it should be retried."""
        self._status["attempts"] += 1
        self._status["last_run"] = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            result, problems = await self.reconcile()
        except RegistrationProblem as exc:
            self._status.update(state="error", last_error=str(exc))
            log.warning("Dataverse registration: %s", exc)
            return True  # an admin must act; the next settings save or restart tries again
        except GatewayError as exc:
            self._status.update(state="error", last_error=str(exc))
            log.warning("Dataverse registration failed (will retry): %s", exc)
            return False
        self._status.update(state="in_sync" if result.in_sync and not problems else "drift",
                            drift=result.describe() + problems, last_error="; ".join(problems), attempts=0)
        return True

    async def reconcile(self) -> tuple[Plan, list[str]]:
        """Make the registration match; return what is left over (the plan after applying) and problems."""
        settings, _ = await self._settings.load()
        names = {t: await self._primary_name(t) for t in settings.record_types}
        desired = desired_steps(settings, names, self._contributors)
        self._status["steps"] = [d.name for d in desired]
        endpoint = await self._endpoint()
        problems = []
        todo = plan(desired, await self._existing(endpoint))
        for step in todo.remove:
            await self._remove(step)
        for existing, want in todo.update:
            await self._update(existing, want)
        for want in todo.create:
            try:
                await self._create(endpoint, want)
            except RegistrationProblem as exc:
                problems.append(str(exc))
        return plan(desired, await self._existing(endpoint)), problems

    async def _primary_name(self, table: str) -> str:
        rtype = await self._source.record_type(table)
        return rtype.primary_name if rtype and rtype.logical_name == table else ""

    async def _endpoint(self) -> str:
        body = await self._client.get("serviceendpoints", {
            "$select": "serviceendpointid", "$filter": f"name eq {odata_string(self._endpoint_name)}"})
        rows = (body or {}).get("value") or []
        if not rows:
            raise RegistrationProblem(f"Dataverse has no webhook service endpoint named {self._endpoint_name!r}: "
                                      "run `python -m records.register_webhooks --url ... --key ...` once")
        return str(rows[0]["serviceendpointid"])

    async def _existing(self, endpoint: str) -> list[ExistingStep]:
        body = await self._client.get("sdkmessageprocessingsteps", {
            "$select": STEP_SELECT, "$filter": f"_eventhandler_value eq {endpoint}"})
        steps = []
        messages = await self._message_names()
        for row in (body or {}).get("value") or []:
            flt = await self._client.get(f"sdkmessagefilters({row['_sdkmessagefilterid_value']})", {
                "$select": "primaryobjecttypecode,_sdkmessageid_value"}) if row.get("_sdkmessagefilterid_value") else {}
            images = await self._client.get("sdkmessageprocessingstepimages", {
                "$select": "sdkmessageprocessingstepimageid,imagetype,attributes",
                "$filter": f"_sdkmessageprocessingstepid_value eq {row['sdkmessageprocessingstepid']}"})
            steps.append(ExistingStep(
                id=str(row["sdkmessageprocessingstepid"]), name=str(row.get("name") or ""),
                table=str((flt or {}).get("primaryobjecttypecode") or ""),
                message=messages.get(str((flt or {}).get("_sdkmessageid_value") or ""), ""),
                filtering=_columns(row.get("filteringattributes")),
                images={int(i["imagetype"]): _columns(i.get("attributes")) or ()
                        for i in (images or {}).get("value") or []}))
        return steps

    async def _message_names(self) -> dict[str, str]:
        body = await self._client.get("sdkmessages", {
            "$select": "sdkmessageid,name", "$filter": "name eq 'Create' or name eq 'Update' or name eq 'Delete'"})
        return {str(r["sdkmessageid"]): str(r["name"]) for r in (body or {}).get("value") or []}

    async def _filter(self, want: DesiredStep) -> tuple[str, str]:
        """The message id and the table's message filter; a table without this message cannot be registered."""
        ids = {name: mid for mid, name in (await self._message_names()).items()}
        if want.message not in ids:
            raise RegistrationProblem(f"Dataverse has no {want.message} message")
        body = await self._client.get("sdkmessagefilters", {
            "$select": "sdkmessagefilterid,iscustomprocessingstepallowed",
            "$filter": f"primaryobjecttypecode eq {odata_string(want.table)} and "
                       f"_sdkmessageid_value eq {ids[want.message]}"})
        rows = [r for r in (body or {}).get("value") or [] if r.get("iscustomprocessingstepallowed") is not False]
        if not rows:
            raise RegistrationProblem(f"{want.table} has no {want.message} message to register a step on "
                                      "(virtual or non-customizable table)")
        return ids[want.message], str(rows[0]["sdkmessagefilterid"])

    async def _create(self, endpoint: str, want: DesiredStep) -> None:
        message, flt = await self._filter(want)
        body: dict[str, Any] = {
            "name": want.name, "stage": POST_OPERATION, "mode": ASYNCHRONOUS, "rank": 1,
            "supporteddeployment": SERVER, "asyncautodelete": True,
            "description": "connected-chats: " + ", ".join(want.purposes),
            "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint})",
            "sdkmessageid@odata.bind": f"/sdkmessages({message})",
            "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({flt})"}
        if want.filtering is not None:
            body["filteringattributes"] = ",".join(want.filtering)
        resp = await self._client.send("POST", "sdkmessageprocessingsteps", body=body)
        step = _created_id(resp.headers, "sdkmessageprocessingsteps")
        try:
            await self._images(step, {}, want)
        except GatewayError:
            # Nothing half-way: a step without its images would send notifications without old values.
            await self._client.send("DELETE", f"sdkmessageprocessingsteps({step})")
            raise
        log.info("Dataverse registration: created %s", want.name)

    async def _update(self, existing: ExistingStep, want: DesiredStep) -> None:
        if (None if existing.filtering is None else tuple(sorted(existing.filtering))) != want.filtering:
            await self._client.send("PATCH", f"sdkmessageprocessingsteps({existing.id})", headers={"If-Match": "*"},
                                    body={"filteringattributes": ",".join(want.filtering or ())})
        await self._images(existing.id, existing.images, want)
        log.info("Dataverse registration: updated %s", want.name)

    async def _images(self, step: str, have: dict[int, tuple[str, ...]], want: DesiredStep) -> None:
        body = await self._client.get("sdkmessageprocessingstepimages", {
            "$select": "sdkmessageprocessingstepimageid,imagetype",
            "$filter": f"_sdkmessageprocessingstepid_value eq {step}"}) if have else None
        ids = {int(i["imagetype"]): str(i["sdkmessageprocessingstepimageid"]) for i in (body or {}).get("value") or []}
        for image_type, alias in IMAGES:
            if not want.images:
                if image_type in ids:
                    await self._client.send("DELETE", f"sdkmessageprocessingstepimages({ids[image_type]})")
                continue
            if tuple(sorted(have.get(image_type, ()))) == want.images and image_type in ids:
                continue
            fields = {"name": alias, "entityalias": alias, "imagetype": image_type, "messagepropertyname": "Target",
                      "attributes": ",".join(want.images)}
            if image_type in ids:
                await self._client.send("PATCH", f"sdkmessageprocessingstepimages({ids[image_type]})",
                                        body=fields, headers={"If-Match": "*"})
            else:
                await self._client.send("POST", "sdkmessageprocessingstepimages", body={
                    **fields, "sdkmessageprocessingstepid@odata.bind": f"/sdkmessageprocessingsteps({step})"})

    async def _remove(self, step: ExistingStep) -> None:
        body = await self._client.get("sdkmessageprocessingstepimages", {
            "$select": "sdkmessageprocessingstepimageid", "$filter": f"_sdkmessageprocessingstepid_value eq {step.id}"})
        for image in (body or {}).get("value") or []:
            image_id = image["sdkmessageprocessingstepimageid"]
            await self._client.send("DELETE", f"sdkmessageprocessingstepimages({image_id})")
        await self._client.send("DELETE", f"sdkmessageprocessingsteps({step.id})")
        log.info("Dataverse registration: removed %s", step.name)


def start_sync(records: object, settings: SettingsStore, endpoint_name: str,
               contributors: Sequence[Contributor] = DEFAULT_CONTRIBUTORS) -> RegistrationSync | None:
    """A running reconciler when the record source is Dataverse; None for the local directory."""
    if not isinstance(records, DataverseRecordSource):
        return None
    sync = RegistrationSync(records, settings, endpoint_name, contributors)
    sync.start()
    return sync


def _columns(value: Any) -> tuple[str, ...] | None:
    """filteringattributes / image attributes: empty means every column."""
    cols = tuple(c.strip().lower() for c in str(value or "").split(",") if c.strip())
    return cols or None


def _created_id(headers: Any, entity_set: str) -> str:
    location = str(headers.get("OData-EntityId", ""))
    if "(" not in location:
        raise DataverseError(500, f"Dataverse created a {entity_set} row but did not say its id.")
    return location.rsplit("(", 1)[1].rstrip(")")
