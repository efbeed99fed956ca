"""The dashboard's actions: roll back, promote, abort; approve or reject a deployment awaiting
approval (docs/security.md, docs/gates/approval.md).

GET ``/actions/{action}?environment=E`` shows what will happen (what serves, the running
deployment, the version a rollback puts back) and a confirm form carrying the CSRF token and a
one-time nonce; POST performs it through ``safeship.core`` as the signed-in user (a deployer at
least), records who did it on the deployment ("dashboard:alice") and in the audit trail. The
nonce is used once, atomically in the registry: a form submitted twice acts once, and the
second answer says what the first did. A rollback takes a while: it runs in a worker thread and
the browser goes back to the overview at once. ``POST /api/actions/{action}`` is the same for
scripts, with an API token.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, RedirectResponse, Response

from safeship import core
from safeship.dashboard import security

if TYPE_CHECKING:
    from safeship.config import LoadedConfig

Action = Literal["rollback", "promote", "abort"]
# The API's actions are the first three; approve and reject are the confirm pages' only.
ACTIONS: Final = ("rollback", "promote", "abort", "approve", "reject")
# Every action needs a deployer, approving and rejecting an approver.
ROLE: Final = "deployer"
ANSWERS: Final = ("approve", "reject")
ANSWER_ROLE: Final = "approver"
# How long a test (or a shutdown) waits for the rollbacks started here.
WORKER_JOIN_TIMEOUT: Final = 120.0

router = APIRouter(include_in_schema=False)
# Declares the bearer token in the OpenAPI document (the middleware has already checked it).
_BEARER = HTTPBearer(auto_error=False, description="An API token: safeship user token NAME")
api_router = APIRouter(prefix="/api/actions", tags=["actions"], dependencies=[Depends(_BEARER)])


@dataclass(frozen=True)
class Plan:
    """What an action would do in an environment now, as the confirm page shows it."""

    action: str
    environment: str
    title: str
    summary: str
    button: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    problem: str | None = None  # why it cannot be done now (the form is not shown)
    deployment_id: str | None = None  # the running deployment promote/abort acts on
    reason: Literal["none", "optional", "required"] = "none"  # the form's reason field


class UnknownEnvironment(Exception):
    pass


def plan(loaded: LoadedConfig, action: str, environment: str) -> Plan:
    """What ``action`` would do in ``environment`` (reads the registry and the router)."""
    if environment not in loaded.config.environments:
        raise UnknownEnvironment(f"no environment {environment[:100]!r} in safeship.toml")
    recent = core.history(loaded, core.HistoryQuery(environment, limit=50))
    running = next((d for d in recent if not d.terminal), None)
    succeeded = [d for d in recent if d.status == "succeeded"]
    facts = [("Serving", _serving(loaded, environment))]
    if running is not None:
        facts.append(("Running deployment", f"{running.version} ({running.state}), "
                      f"{running.id[:8]}, started by {running.triggered_by}"))  # fmt: skip
    if succeeded:
        facts.append(("Current version", succeeded[0].version))
    if len(succeeded) > 1:
        facts.append(("Previous version", succeeded[1].version))
    env = environment
    if action == "rollback":
        title = f"Roll back {env}"
        if running is not None:
            summary = (f"{running.version} is being deployed: rolling back asks that deployment "
                       "to roll back to the stable release at once.")  # fmt: skip
            return Plan(action, env, title, summary, "Roll back", facts, None, running.id)
        if len(succeeded) < 2:
            problem = f"{env} has no earlier successful deployment to roll back to"
            return Plan(action, env, title, "Nothing to roll back.", "Roll back", facts, problem)
        summary = (f"Put {succeeded[1].version} back in place of {succeeded[0].version}, all at "
                   f"once, and mark {succeeded[0].version} rolled back.")  # fmt: skip
        return Plan(action, env, title, summary, f"Roll back to {succeeded[1].version}", facts)
    if action in ANSWERS:
        return _answer_plan(loaded, action, env, running, facts)
    if action == "promote":
        title = f"Promote in {env}"
        if running is None or not running.paused_at:
            problem = f"no deployment of {env} is paused"
            return Plan(action, env, title, "Nothing waits to be promoted.", "Promote", facts,
                        problem)  # fmt: skip
        summary = (f"Let {running.version}, paused at {running.paused_at}%, go on to its next "
                   "traffic step.")  # fmt: skip
        return Plan(action, env, title, summary, f"Promote {running.version}", facts, None,
                    running.id)  # fmt: skip
    title = f"Abort in {env}"
    if running is None:
        problem = f"no deployment of {env} is running"
        return Plan(action, env, title, "Nothing to abort.", "Abort", facts, problem)
    summary = (f"Stop deploying {running.version} ({running.where or running.state}) and "
               "roll it back to the stable release.")  # fmt: skip
    return Plan(action, env, title, summary, f"Abort {running.version}", facts, None, running.id)


def _answer_plan(
    loaded: LoadedConfig,
    action: str,
    env: str,
    running: core.DeploymentSummary | None,
    facts: list[tuple[str, str]],
) -> Plan:
    """Approve or reject the deployment awaiting approval in ``env``: the confirm page shows
    what its gates found (the rollback plan, the migration's findings) and who approved."""
    verb = "Approve" if action == "approve" else "Reject"
    title = f"{verb} in {env}"
    if running is None or running.status != "awaiting_approval":
        problem = f"no deployment of {env} is awaiting approval"
        return Plan(action, env, title, "Nothing awaits approval.", verb, facts, problem)
    pending = core.pending_approval(loaded, running.id)
    approvers = [a.user for a in pending.answers if a.decision == "approve"]
    facts.append(("Approvals", f"{len(approvers)} of {pending.required}"
                  + (f" ({', '.join(approvers)})" if approvers else "")))  # fmt: skip
    facts += [("Needs approval", reason) for reason in pending.reasons]
    for gate in pending.gates:
        verdict = gate.outcome + (f": {gate.reason}" if gate.reason else "")
        facts.append((f"Gate {gate.gate}", verdict))
    if action == "approve":
        summary = (f"Approve {running.version} ({running.id[:8]}), asked by "
                   f"{running.triggered_by}: its release starts once enough approvers "
                   "approved.")  # fmt: skip
    else:
        summary = (f"Reject {running.version} ({running.id[:8]}): the deploy ends aborted before "
                   "its release starts.")  # fmt: skip
    reason: Literal["optional", "required"] = "optional" if action == "approve" else "required"
    return Plan(action, env, title, summary, f"{verb} {running.version}", facts, None,
                running.id, reason)  # fmt: skip


def _serving(loaded: LoadedConfig, environment: str) -> str:
    try:
        (status,) = core.status(loaded, environment)
    except Exception as exc:  # a router that does not answer must not hide the page
        return f"unknown ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})"
    if not status.traffic:
        return ", ".join(status.serving) or "nothing"
    return ", ".join(f"{row.release} {row.weight}%" for row in status.traffic)


# -- performing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Done:
    """How an action went: ``status`` the HTTP status to answer, ``outcome`` one line."""

    status: int
    outcome: str
    deployment_id: str | None = None


def perform(
    request: Request,
    principal: core.Principal,
    action: str,
    environment: str,
    nonce: str | None = None,
    *,
    deployment_id: str | None = None,
    reason: str | None = None,
) -> Done:
    """Do ``action`` (promote, abort, approve and reject at once; a rollback started in a
    worker thread) and record how it went under ``nonce`` (what a resubmission is told). Runs
    in a worker thread itself. ``deployment_id``, ``reason``: what approve/reject answer."""
    loaded: LoadedConfig = request.app.state.loaded
    client = security.caller(request).client
    by = principal.actor
    if action in ANSWERS:
        done = _answer(loaded, principal, action, deployment_id or "", reason, client)
        if nonce is not None:
            core.nonce_outcome(loaded, nonce, done.outcome)
        return done
    if action == "rollback":
        outcome = f"rollback of {environment} started by {principal.name}"
        if nonce is not None:  # before the worker starts: its own outcome comes after this one
            core.nonce_outcome(loaded, nonce, outcome)
        worker = threading.Thread(
            target=_rollback,
            args=(loaded, environment, principal, client, nonce),
            name=f"dashboard-rollback-{environment}",
        )
        workers: list[threading.Thread] = [
            w for w in getattr(request.app.state, "action_workers", []) if w.is_alive()
        ]
        request.app.state.action_workers = [*workers, worker]
        worker.start()
        core.audit_record(loaded, principal.name, "rollback", environment, "started", client,
                          f"as {by}")  # fmt: skip
        return Done(202, outcome)
    call = core.promote if action == "promote" else core.abort
    try:
        summary = call(loaded, environment, requested_by=by)
    except core.RequestRefused as exc:
        core.audit_record(loaded, principal.name, action, environment, "refused", client, str(exc))
        done = Done(409, f"refused: {exc}")
    else:
        outcome = f"{action} of {summary.version} ({summary.id[:8]}) requested by {principal.name}"
        core.audit_record(loaded, principal.name, action, environment, "ok", client,
                          f"deployment {summary.id}")  # fmt: skip
        done = Done(200, outcome, summary.id)
    if nonce is not None:
        core.nonce_outcome(loaded, nonce, done.outcome)
    return done


def _answer(
    loaded: LoadedConfig,
    principal: core.Principal,
    action: str,
    deployment_id: str,
    reason: str | None,
    client: str,
) -> Done:
    """Record an approval or a rejection (the core audits it)."""
    try:
        if action == "approve":
            pending = core.approve(loaded, deployment_id, user=principal.name, reason=reason,
                                   via="dashboard", client=client)  # fmt: skip
        else:
            pending = core.reject(loaded, deployment_id, user=principal.name,
                                  reason=reason or "", via="dashboard", client=client)  # fmt: skip
    except core.ApprovalRefused as exc:
        return Done(409, f"refused: {exc}")
    d = pending.deployment
    done = "approved" if action == "approve" else "rejected"
    return Done(200, f"{d.version} ({d.id[:8]}) {done} by {principal.name}", d.id)


def _rollback(
    loaded: LoadedConfig,
    environment: str,
    principal: core.Principal,
    client: str,
    nonce: str | None,
) -> None:
    """The rollback itself, in its worker thread; how it went goes to the audit trail (and to
    the nonce's outcome)."""
    outcome, detail = _rolled_back(loaded, environment, principal)
    core.audit_record(loaded, principal.name, "rollback", environment, outcome, client, detail)
    if nonce is not None:
        core.nonce_outcome(loaded, nonce, f"rollback of {environment} by {principal.name}: "
                           f"{outcome}, {detail}")  # fmt: skip


def _rolled_back(
    loaded: LoadedConfig, environment: str, principal: core.Principal
) -> tuple[str, str]:
    """Roll back; how it ended (ok or failed) and one line of detail."""
    try:
        result = core.rollback(loaded, environment, triggered_by=principal.actor)
    except Exception as exc:  # recorded, not raised: nobody waits for this thread
        return "failed", (str(exc).splitlines() or [type(exc).__name__])[0]
    if result.abort_requested is not None:
        return "ok", f"asked the running deployment {result.abort_requested.id} to roll back"
    if result.recovered:
        return "ok", "finished an interrupted deployment's rollback"
    if result.deployed is None:
        return "ok", "done"
    detail = f"{result.deployed.version} {result.deployed.status}"
    if not result.deployed.ok:
        return "failed", f"{detail}: {result.deployed.reason or ''}"
    return "ok", detail


def wait_for_actions(app: Any, timeout: float = WORKER_JOIN_TIMEOUT) -> None:
    """Wait for the rollbacks this app started (tests; a graceful shutdown)."""
    for worker in list(getattr(app.state, "action_workers", [])):
        worker.join(timeout)


# -- the pages -------------------------------------------------------------------------------


async def _actor(request: Request) -> core.Principal:
    """The signed-in user, with the role the path's action needs."""
    action = request.path_params.get("action", "")
    return await security.require(ANSWER_ROLE if action in ANSWERS else ROLE)(request)


def _check_action(request: Request, action: str) -> None:
    if action not in ACTIONS:
        raise security.Refused(security.refusal(request, 404, f"no action {action[:40]!r}"))


@router.get("/actions/{action}")
async def confirm_page(
    request: Request,
    action: str,
    environment: str,
    principal: Annotated[core.Principal, Depends(_actor)],
) -> Response:
    _check_action(request, action)
    loaded = request.app.state.loaded
    try:
        found = await run_in_threadpool(plan, loaded, action, environment)
    except UnknownEnvironment as exc:
        return security.refusal(request, 404, str(exc))
    nonce = ""
    if found.problem is None:
        nonce = await run_in_threadpool(core.nonce_issue, loaded, principal.name, action,
                                        environment)  # fmt: skip
    context = {"plan": found, "nonce": nonce}
    headers = {"Cache-Control": "no-store"}
    return security.page(request, "confirm.html.j2", context, headers=headers)


@router.post("/actions/{action}")
async def confirmed(
    request: Request,
    action: str,
    principal: Annotated[core.Principal, Depends(_actor)],
    environment: Annotated[str, Form(max_length=100)] = "",
    nonce: Annotated[str, Form(max_length=100)] = "",
    deployment: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    _check_action(request, action)
    loaded = request.app.state.loaded
    used = await run_in_threadpool(core.nonce_use, loaded, nonce, principal.name, action,
                                   environment)  # fmt: skip
    if not used.act:
        if used.outcome is None:
            await security.audit(request, action, environment, "refused",
                                 "unknown or expired confirmation")  # fmt: skip
            message = "This confirmation has expired or is not yours: open the action again."
            return _done_page(request, 400, "Not done", message, "/")
        await security.audit(request, action, environment, "repeated",
                             "the same confirmation again: not done twice")  # fmt: skip
        message = f"Already done: {used.outcome}. It was not done a second time."
        return _done_page(request, 200, "Already done", message, "/")
    try:
        found = await run_in_threadpool(plan, loaded, action, environment)
    except UnknownEnvironment as exc:
        return security.refusal(request, 404, str(exc))
    if found.problem is not None:
        await run_in_threadpool(core.nonce_outcome, loaded, nonce, f"refused: {found.problem}")
        await security.audit(request, action, environment, "refused", found.problem)
        return _done_page(request, 409, "Not done", found.problem, "/")
    if action in ANSWERS and deployment != found.deployment_id:
        # Another deployment awaits approval now: the one shown is not the one answered.
        problem = "the deployment awaiting approval changed: open the action again"
        await run_in_threadpool(core.nonce_outcome, loaded, nonce, f"refused: {problem}")
        await security.audit(request, action, environment, "refused", problem)
        return _done_page(request, 409, "Not done", problem, "/")
    done = await run_in_threadpool(
        partial(perform, deployment_id=deployment, reason=reason.strip() or None),
        request, principal, action, environment, nonce,
    )  # fmt: skip
    if done.status >= 400:
        return _done_page(request, done.status, "Not done", done.outcome, "/")
    target = f"/deployments/{done.deployment_id}" if done.deployment_id else "/"
    return RedirectResponse(target, status_code=303)


def _done_page(request: Request, status: int, title: str, message: str, back: str) -> Response:
    context = {"title": title, "message": message, "back": back}
    return security.page(request, "action_done.html.j2", context, status=status)


# -- the JSON API ----------------------------------------------------------------------------


class ActionRequest(BaseModel):
    environment: str = Field(min_length=1, max_length=100)


class ActionAnswer(BaseModel):
    action: str
    environment: str
    outcome: str
    deployment_id: str | None = Field(default=None, serialization_alias="deploymentId")


@api_router.post(
    "/{action}",
    summary="Roll back, promote or abort in an environment (a deployer's API token)",
    response_model=ActionAnswer,
    responses={202: {"description": "a rollback started"}, 409: {"description": "not now"}},
)
async def api_action(
    request: Request,
    action: Action,
    body: ActionRequest,
    principal: Annotated[core.Principal, Depends(security.require(ROLE))],
) -> Response:
    loaded = request.app.state.loaded
    environment = body.environment
    key = request.headers.get("idempotency-key")
    nonce = None
    if key is not None:
        try:
            used, nonce = await run_in_threadpool(
                core.idempotent_use, loaded, key, principal.name, action, environment
            )
        except core.AuthError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        if not used.act:
            if used.outcome is None:
                detail = "this Idempotency-Key was used for another request, or long ago"
                return JSONResponse({"detail": detail}, status_code=409)
            await security.audit(request, action, environment, "repeated",
                                 "the same Idempotency-Key again: not done twice")  # fmt: skip
            replay = ActionAnswer(action=action, environment=environment,
                                  outcome=f"already done: {used.outcome}")  # fmt: skip
            return JSONResponse(replay.model_dump(by_alias=True),
                                headers={"Idempotent-Replayed": "true"})  # fmt: skip
    try:
        found = await run_in_threadpool(plan, loaded, action, environment)
    except UnknownEnvironment as exc:
        return JSONResponse({"detail": str(exc)}, status_code=404)
    if found.problem is not None:
        if nonce is not None:
            await run_in_threadpool(core.nonce_outcome, loaded, nonce, f"refused: {found.problem}")
        await security.audit(request, action, environment, "refused", found.problem)
        return JSONResponse({"detail": found.problem}, status_code=409)
    done = await run_in_threadpool(perform, request, principal, action, environment, nonce)
    if done.status >= 400:
        return JSONResponse({"detail": done.outcome}, status_code=done.status)
    answer = ActionAnswer(action=action, environment=environment, outcome=done.outcome,
                          deployment_id=done.deployment_id)  # fmt: skip
    return JSONResponse(answer.model_dump(by_alias=True), status_code=done.status)
