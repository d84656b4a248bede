"""Controlled vocabularies of the registry. Codes are stored; labels are translated on display."""

from __future__ import annotations

from smart365.core.i18n import N_

#: 17 시·도 (metropolitan and provincial governments), code → English msgid.
REGIONS: dict[str, str] = {
    "seoul": N_("Seoul"),
    "busan": N_("Busan"),
    "daegu": N_("Daegu"),
    "incheon": N_("Incheon"),
    "gwangju": N_("Gwangju"),
    "daejeon": N_("Daejeon"),
    "ulsan": N_("Ulsan"),
    "sejong": N_("Sejong"),
    "gyeonggi": N_("Gyeonggi"),
    "gangwon": N_("Gangwon"),
    "chungbuk": N_("Chungbuk"),
    "chungnam": N_("Chungnam"),
    "jeonbuk": N_("Jeonbuk"),
    "jeonnam": N_("Jeonnam"),
    "gyeongbuk": N_("Gyeongbuk"),
    "gyeongnam": N_("Gyeongnam"),
    "jeju": N_("Jeju"),
}

#: Korean short names users type in import files, mapped to region codes.
REGION_ALIASES: dict[str, str] = {
    "서울": "seoul",
    "부산": "busan",
    "대구": "daegu",
    "인천": "incheon",
    "광주": "gwangju",
    "대전": "daejeon",
    "울산": "ulsan",
    "세종": "sejong",
    "경기": "gyeonggi",
    "강원": "gangwon",
    "충북": "chungbuk",
    "충남": "chungnam",
    "전북": "jeonbuk",
    "전남": "jeonnam",
    "경북": "gyeongbuk",
    "경남": "gyeongnam",
    "제주": "jeju",
    "충청북도": "chungbuk",
    "충청남도": "chungnam",
    "전라북도": "jeonbuk",
    "전라남도": "jeonnam",
    "경상북도": "gyeongbuk",
    "경상남도": "gyeongnam",
}


def region_code(text: str) -> str | None:
    """The region code for a code, an English name or a Korean name (short or full), else ``None``.

    >>> region_code("경기도"), region_code("충청남도"), region_code("Seoul"), region_code("서울특별시")
    ('gyeonggi', 'chungnam', 'seoul', 'seoul')
    """
    text = text.strip()
    if text.lower() in REGIONS:
        return text.lower()
    for alias in sorted(REGION_ALIASES, key=len, reverse=True):
        if text.startswith(alias):
            return REGION_ALIASES[alias]
    return None


#: Information systems a factory may already run.
SYSTEMS: dict[str, str] = {
    "ERP": N_("ERP (enterprise resource planning)"),
    "MES": N_("MES (manufacturing execution)"),
    "PLM": N_("PLM (product lifecycle)"),
    "SCM": N_("SCM (supply chain)"),
    "SCADA": N_("SCADA (supervisory control)"),
    "QMS": N_("QMS (quality management)"),
    "WMS": N_("WMS (warehouse management)"),
    "EMS": N_("EMS (energy management)"),
    "APS": N_("APS (advanced planning)"),
    "CMMS": N_("CMMS (maintenance management)"),
}

#: Annual revenue bands (매출액 구간), in KRW.
REVENUE_BANDS: dict[str, str] = {
    "lt10b": N_("under 10 billion won"),
    "10b-50b": N_("10–50 billion won"),
    "50b-100b": N_("50–100 billion won"),
    "100b-300b": N_("100–300 billion won"),
    "ge300b": N_("300 billion won or more"),
}

EQUIPMENT_KINDS: dict[str, str] = {
    "cnc": N_("CNC machining centre"),
    "lathe": N_("CNC lathe"),
    "injection": N_("Injection moulding machine"),
    "press": N_("Press"),
    "furnace": N_("Furnace / heat treatment"),
    "robot": N_("Industrial robot"),
    "inspection": N_("Inspection / measuring machine"),
    "conveyor": N_("Conveyor"),
    "compressor": N_("Compressor / utility"),
    "other": N_("Other"),
}

PROTOCOLS: dict[str, str] = {
    "opcua": "OPC UA",
    "mqtt": "MQTT (JSON)",
    "sparkplug": "MQTT Sparkplug B",
    "modbus": "Modbus TCP",
    "file": N_("File upload"),
    "http": N_("HTTP ingest"),
    "none": N_("Not connected"),
}

DATA_TYPES: dict[str, str] = {"float": N_("Number"), "int": N_("Integer"), "bool": N_("On/off"), "str": N_("Text")}

#: Readable names of common shop-floor tags (and the simulator's), for a tag without its own display name.
SIGNAL_LABELS: dict[str, str] = {
    "spindle_load": N_("spindle load"),
    "spindle_temp": N_("spindle temperature"),
    "spindle_speed": N_("spindle speed"),
    "vibration": N_("vibration"),
    "cycle_time": N_("cycle time"),
    "part_count": N_("part count"),
    "barrel_temp": N_("barrel temperature"),
    "mould_temp": N_("mould temperature"),
    "injection_pressure": N_("injection pressure"),
    "tonnage": N_("tonnage"),
    "die_temp": N_("die temperature"),
    "stroke_rate": N_("stroke rate"),
    "state": N_("machine state"),
    "stop_reason": N_("stop reason"),
}
