"""OpenAPI contract: real spec pairs; breaking changes caught, compatible ones not."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from safeship.hooks.openapi import SpecError, breaking_changes, parse_spec

BASE = """
openapi: 3.0.3
info: {title: shop, version: "1.0"}
paths:
  /orders:
    get:
      parameters:
        - {name: limit, in: query, schema: {type: integer}}
      responses:
        "200":
          description: orders
          content:
            application/json:
              schema:
                type: array
                items: {$ref: "#/components/schemas/Order"}
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/NewOrder"}
      responses:
        "201":
          description: created
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Order"}
  /orders/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
    delete:
      responses:
        "204": {description: deleted}
components:
  schemas:
    NewOrder:
      type: object
      required: [sku]
      properties:
        sku: {type: string}
        quantity: {type: number}
        note: {type: string}
        channel: {type: string, enum: [web, app, phone]}
    Order:
      allOf:
        - $ref: "#/components/schemas/NewOrder"
        - type: object
          properties:
            id: {type: string}
            total: {type: integer}
"""


def _spec() -> dict[str, Any]:
    data = yaml.safe_load(BASE)
    assert isinstance(data, dict)
    return data


def _changed(edit: Any) -> list[str]:
    new = copy.deepcopy(_spec())
    edit(new)
    return breaking_changes(_spec(), new)


SCHEMAS = ("components", "schemas")


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    result: dict[str, Any] = spec[SCHEMAS[0]][SCHEMAS[1]][name]
    return result


BREAKING = {
    "removed path": (
        lambda s: s["paths"].pop("/orders/{id}"),
        "removed path /orders/{id}",
    ),
    "removed method": (
        lambda s: s["paths"]["/orders"].pop("post"),
        "removed method POST /orders",
    ),
    "removed response field (through allOf and $ref)": (
        lambda s: _schema(s, "Order")["allOf"][1]["properties"].pop("total"),
        "GET /orders 200: removed response field [].total",
    ),
    "new required request field": (
        lambda s: _schema(s, "NewOrder")["required"].append("note"),
        "POST /orders: request: new required field note",
    ),
    "new required request field added": (
        lambda s: (
            _schema(s, "NewOrder")["properties"].update(coupon={"type": "string"}),
            _schema(s, "NewOrder")["required"].append("coupon"),
        ),
        "POST /orders: request: new required field coupon",
    ),
    "narrowed request type": (
        lambda s: _schema(s, "NewOrder")["properties"]["quantity"].update(type="integer"),
        "POST /orders: request field quantity: type narrowed number → integer",
    ),
    "narrowed enum": (
        lambda s: _schema(s, "NewOrder")["properties"]["channel"].update(enum=["web", "app"]),
        "POST /orders: request field channel: enum values removed",
    ),
    "new required query parameter": (
        lambda s: s["paths"]["/orders"]["get"]["parameters"].append(
            {"name": "tenant", "in": "query", "required": True, "schema": {"type": "string"}}
        ),
        "GET /orders: query parameter tenant: new required parameter",
    ),
    "narrowed parameter type": (
        lambda s: s["paths"]["/orders"]["get"]["parameters"][0]["schema"].update(type="boolean"),
        "GET /orders: query parameter limit: type narrowed integer → boolean",
    ),
}


@pytest.mark.parametrize("case", sorted(BREAKING))
def test_a_breaking_change_is_caught(case: str) -> None:
    edit, expected = BREAKING[case]
    assert expected in _changed(edit)


COMPATIBLE = {
    "new path": lambda s: s["paths"].update({"/health": {"get": {"responses": {"200": {}}}}}),
    "new optional request field": lambda s: _schema(s, "NewOrder")["properties"].update(
        gift={"type": "boolean"}
    ),
    "new response field": lambda s: _schema(s, "Order")["allOf"][1]["properties"].update(
        created={"type": "string"}
    ),
    "widened parameter type": lambda s: s["paths"]["/orders"]["get"]["parameters"][0][
        "schema"
    ].update(type="number"),
    "request field no longer required": lambda s: _schema(s, "NewOrder").update(required=[]),
    "new optional parameter": lambda s: s["paths"]["/orders"]["get"]["parameters"].append(
        {"name": "q", "in": "query", "schema": {"type": "string"}}
    ),
    "enum value added": lambda s: _schema(s, "NewOrder")["properties"]["channel"]["enum"].append(
        "kiosk"
    ),
    "descriptions only": lambda s: s["info"].update(description="the shop API"),
}


@pytest.mark.parametrize("case", sorted(COMPATIBLE))
def test_a_compatible_change_passes(case: str) -> None:
    assert _changed(COMPATIBLE[case]) == []


def test_widening_a_field_that_responses_share_breaks_the_response() -> None:
    def edit(s: dict[str, Any]) -> None:
        _schema(s, "NewOrder")["properties"]["quantity"]["type"] = ["number", "string"]

    assert "GET /orders 200: response field [].quantity type changed number → number|string" in (
        _changed(edit)
    )


def test_every_breaking_change_is_listed_at_once() -> None:
    def edit(s: dict[str, Any]) -> None:
        s["paths"].pop("/orders/{id}")
        _schema(s, "NewOrder")["required"].append("note")

    assert len(_changed(edit)) == 2


def test_json_specs_and_unparseable_specs() -> None:
    assert parse_spec(b'{"openapi": "3.1.0", "paths": {}}', "api/openapi.json")["paths"] == {}
    with pytest.raises(SpecError, match=r"^openapi.yaml: cannot parse"):
        parse_spec(b"paths: [unclosed", "openapi.yaml")
    with pytest.raises(SpecError, match="not an OpenAPI document"):
        parse_spec(b"- a list", "openapi.yaml")


def test_a_reference_cycle_terminates() -> None:
    spec = _spec()
    _schema(spec, "NewOrder")["properties"]["parent"] = {"$ref": "#/components/schemas/NewOrder"}
    assert breaking_changes(spec, copy.deepcopy(spec)) == []
