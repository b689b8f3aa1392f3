"""Warehouse column types → ChartMogul custom-attribute types.

Drivers describe result columns differently: DuckDB and BigQuery give type names
(``DECIMAL(10,2)``, ``BIGNUMERIC``), psycopg gives PostgreSQL type OIDs, Snowflake's
connector its own small integer codes (0 = FIXED, with the scale beside it), others give
Python type objects. An integer code is read by the dialect it came from. Everything that
is not recognisably a number, a moment or a boolean is a String, which ChartMogul always
accepts.
"""

from __future__ import annotations

import re

from mogulsync.warehouse.base import AttributeType

#: PostgreSQL type OIDs (pg_type.oid) of the types we map to something other than String.
_PG_OIDS: dict[int, AttributeType] = {
    16: "Boolean",  # bool
    20: "Integer",  # int8
    21: "Integer",  # int2
    23: "Integer",  # int4
    700: "Decimal",  # float4
    701: "Decimal",  # float8
    1700: "Decimal",  # numeric
    790: "Decimal",  # money
    1082: "Timestamp",  # date
    1114: "Timestamp",  # timestamp
    1184: "Timestamp",  # timestamptz
}
_PG_OID_NAMES = {
    16: "boolean",
    20: "bigint",
    21: "smallint",
    23: "integer",
    700: "real",
    701: "double precision",
    1700: "numeric",
    790: "money",
    1082: "date",
    1114: "timestamp",
    1184: "timestamptz",
    25: "text",
    1043: "varchar",
    114: "json",
    3802: "jsonb",
}
#: Snowflake connector type codes (``snowflake.connector.constants.FIELD_ID_TO_NAME``);
#: FIXED (NUMBER) is an Integer when its scale is 0
_SNOWFLAKE_FIXED = 0
_SNOWFLAKE_CODES: dict[int, AttributeType] = {
    1: "Decimal",  # REAL
    3: "Timestamp",  # DATE
    4: "Timestamp",  # TIMESTAMP
    6: "Timestamp",  # TIMESTAMP_LTZ
    7: "Timestamp",  # TIMESTAMP_TZ
    8: "Timestamp",  # TIMESTAMP_NTZ
    13: "Boolean",  # BOOLEAN
}
_SNOWFLAKE_NAMES = {
    0: "NUMBER",
    1: "FLOAT",
    2: "TEXT",
    3: "DATE",
    4: "TIMESTAMP",
    5: "VARIANT",
    6: "TIMESTAMP_LTZ",
    7: "TIMESTAMP_TZ",
    8: "TIMESTAMP_NTZ",
    9: "OBJECT",
    10: "ARRAY",
    11: "BINARY",
    12: "TIME",
    13: "BOOLEAN",
    14: "GEOGRAPHY",
    15: "GEOMETRY",
    16: "VECTOR",
    17: "MAP",
    18: "FILE",
}
_SNOWFLAKE = "snowflake"
_PATTERNS: tuple[tuple[re.Pattern[str], AttributeType], ...] = (
    (re.compile(r"\[\]$|^(list|array|struct|map|json)", re.IGNORECASE), "String"),
    (re.compile(r"^(bool|boolean|logical)\b", re.IGNORECASE), "Boolean"),
    (
        re.compile(
            r"^(u?(tiny|small|big|huge)?int(eger)?\d*|long|short|number\(\d+,\s*0\))\b",
            re.IGNORECASE,
        ),
        "Integer",
    ),
    (
        re.compile(r"^(big)?(decimal|numeric|number|float|double|real|money|dec)\b", re.IGNORECASE),
        "Decimal",
    ),
    (re.compile(r"^(date|datetime|timestamp|time_?stamp)", re.IGNORECASE), "Timestamp"),
)


def describe_type(
    type_code: object,
    *,
    dialect: str = "postgresql",
    precision: int | None = None,
    scale: int | None = None,
) -> str:
    """A readable name for a DB-API ``type_code`` of ``dialect``'s driver."""
    if isinstance(type_code, int) and not isinstance(type_code, bool):
        if dialect == _SNOWFLAKE:
            name = _SNOWFLAKE_NAMES.get(type_code, f"type code {type_code}")
            if type_code == _SNOWFLAKE_FIXED and precision is not None and scale is not None:
                name += f"({precision},{scale})"
            return name
        return _PG_OID_NAMES.get(type_code, f"oid {type_code}")
    if isinstance(type_code, type):
        return type_code.__name__
    return str(type_code)


def attribute_type_for(
    type_code: object, *, dialect: str = "postgresql", scale: int | None = None
) -> AttributeType:
    """The custom-attribute type for a DB-API ``type_code`` of ``dialect``'s driver (String
    when unsure); ``scale`` is the column's, when the driver gives one."""
    if isinstance(type_code, int) and not isinstance(type_code, bool):
        if dialect == _SNOWFLAKE:
            if type_code == _SNOWFLAKE_FIXED:
                return "Integer" if scale == 0 else "Decimal"
            return _SNOWFLAKE_CODES.get(type_code, "String")
        return _PG_OIDS.get(type_code, "String")
    if isinstance(type_code, type):
        return _python_type(type_code)
    name = str(type_code).strip()
    for pattern, attribute in _PATTERNS:
        if pattern.search(name):
            return attribute
    return "String"


def _python_type(kind: type) -> AttributeType:
    import datetime as dt
    import decimal

    if issubclass(kind, bool):
        return "Boolean"
    if issubclass(kind, int):
        return "Integer"
    if issubclass(kind, float | decimal.Decimal):
        return "Decimal"
    if issubclass(kind, dt.date):
        return "Timestamp"
    return "String"
