"""A deterministic synthetic "crash" dataset, calibrated to the 2025-10-10/11 crash.

``generate(users, seed, out)`` writes a dataset folder in the shape of
:mod:`recompense.data.contract` (one Parquet file per table). The same ``(users, seed)``
gives byte-identical files: every random draw comes from ``numpy`` ``PCG64`` streams
keyed by ``SeedSequence(seed, spawn_key=...)`` (``(0,)`` for prices, ``(1, k)`` for chunk
k of users, ``(2, k)`` for that chunk's collateral liquidations: a stream of its own, so
adding them left every other file's bytes as they were), nothing reads the clock, and
Parquet is written with fixed settings (zstd level 3, at most ``ROW_GROUP_ROWS`` rows per
row group, one write per chunk, no pandas metadata). Amounts are float64 rounded to 8
places, except in the two de-peg tables, which are exact ``decimal(38, 12)``.
"Identical" assumes the same numpy and pyarrow versions: numpy does not promise the
same ``Generator`` streams across releases, and the Parquet footer names the writer's
version. Users are generated in chunks of ``CHUNK_USERS`` with vectorised
numpy, a worker thread preparing chunk k+1 while chunk k is written, so memory stays
bounded (~0.65 GB) and 10M users take ~10 s on 2 cores (~370 MB of Parquet). The folder
appears atomically: it is built under a hidden temporary name in the same parent
(``.NAME.tmp-PID``, removed by the next ``generate`` if its process died), synced and
renamed at the end.

Calibration (anchor points hand-copied from the public files in
``shared/data/real``; they are not read at generation time):

- prices: one row per asset and UTC minute, 2025-10-09 00:00 .. 2025-10-12 23:59. Each
  path interpolates log-price between anchors and adds a Brownian bridge pinned to zero
  at every anchor (per-minute volatility ×4 between 20:45 and 23:00 on Oct 10), so the
  anchored lows are exact. BTC follows the Binance mark price (Oct 10 high ~122.45k at
  13:35, crash from 20:50, low 101,900 at 21:20, ~110-115k on Oct 11-12); ETH, SOL and
  XRP follow the Gemini minute bars of Oct 10, ETH's low set to 3,540 (between
  Gemini's 3,681 and Binance's reported 3,436); BNB, DOGE, LINK and ADA are
  approximate. USDE follows Binance USDE/USDT minute lows (0.90 at 21:20, 0.65 at
  21:54). BNSOL = SOL × ~1.0685 and WBETH = ETH × ~1.0738 (their staking ratios),
  both collapsing to ~0.1-0.2 of that between 21:36 and 22:30. USDT is exactly 1,
  USDC jitters by ~1e-4. DOGE, LINK and ADA skip some minutes (gaps of at most 47
  minutes, never minute 0), so consumers must take the latest earlier minute.
- users: ids 1..N; ~2% vip, ~0.2% institutional; registered 2017-07-14 .. 2025-10-09,
  later ids later; ~1% without an email (phone sign-ups); locales mostly en and es.
- accounts: ``account_id = ACCOUNT_BASE + user_id * 10 + k`` (k = 0 is the master), so
  account ids never equal user ids and a join on the wrong id finds nothing; ~20% of
  users (more of vip/institutional) own 1-3 sub-accounts, ~1.33 accounts per user.
- balances (snapshot 2025-10-09 23:59 UTC): ~35% of users hold nothing; the others
  hold a few (account, wallet, asset) rows whose USD values split a heavy-tailed net
  worth (lognormal, median ~$600, plus a Pareto tail to $50M; vip ×20, institutional
  ×200). Margin rows may carry a liability, futures rows an unrealised PnL, both
  keeping the row's net value. ~1% of liquidated users have net assets <= 0.
- liquidations: ~4% of users, ~10 fills each (ceil of a lognormal), ~5% ADL (mostly
  positive PnL, no fee). Times: a per-user cascade around 21:00-22:00 Oct 10 (peak
  21:15-21:25), a tail over Oct 10-11, a pre-crash slide, ~2% on Oct 9 or Oct 12 and a
  few exactly at the window boundaries. A user's USD loss is ``ratio × net assets``
  with ``ratio ~ Beta(1.3, 2.6)`` (about half reach 30%; 2% lose more than they held),
  split over their liquidation fills and converted to the fill's margin asset at that
  minute's price (USDT/USDC, or the coin for COIN-M). Clearance fee: 0.5-1.5% of
  the fill's loss. About half of liquidated users with sub-accounts lose on a sub.
- prior_compensation: ~3% of liquidated users, ``depeg-2025-10`` (85%) or
  ``transfer-delay-2025-10``, 5% of them with both, paid during Oct 11 UTC.
- reference_prices (for ``programs/depeg-2025-10.toml``): USDE, BNSOL and WBETH at
  2025-10-11 00:00 UTC (the programme's ``collateral.reference_at``): ``market_usd`` the
  path's price at that minute (USDE 0.9985, its anchor; Binance's close was 0.9979),
  ``redemption_rate`` the staking ratio the paths use (1 for USDE → USDT, 1.0685 for
  BNSOL → SOL, 1.0738 for WBETH → ETH), ``underlying_usd`` the SOL / ETH path (USDT: 1).
  With the programme's adjustments the references are $1 (the USDE floor), ~$196 and
  ~$4,110.
- collateral_liquidations: ~0.5% of users: every user with a ``depeg-2025-10``
  prior_compensation row (~0.1% of users, ~20% of the holders), 5% of the other
  liquidated users and 0.21% of the rest. 1-4 events each (mean 1.5); asset USDE 70%,
  BNSOL 17%, WBETH 13% (a holder mostly keeps one); quantity lognormal (median 1,200
  USDE, 6 BNSOL, 0.6 WBETH, log-sigma 1; vip ×3, institutional ×10); products
  usdm_futures 25%, loan 25%, portfolio_margin 23%, cross_margin 16%, isolated_margin 7%,
  coinm_futures 4%. Times: 75% at the asset's trough (normal around 21:46 USDE, 21:43
  BNSOL, 21:44 WBETH, sd 4-6 minutes, kept to 21:36-22:05), the rest anywhere in
  [21:36, 22:17); 7% outside the window (21:00-21:36 or 22:17-23:30: cases reviewed one
  by one), and per chunk max(4, events/400) on the window's edges, cycling 21:36:00 and
  22:16:59.999999 (in), 22:17:00 and 21:35:59.999999 (out). The liquidation price is the
  path's price at the event's minute, except for 3% of events and all events of 3% of
  holders, filled 0.1-2% above ``max(market, rate × underlying, $1)`` (no weight from 0
  to 1 and no floor up to $1 gives a higher reference: they are paid nothing). One
  event of each prior payee is kept at the trough, at the path price, off the edges, so
  every prior payee is paid: the de-peg programme pays everyone synth says was paid,
  and the other ~80% of holders besides (read prior_compensation, paid on Oct 11, as
  the first of Binance's two batches). Two events per chunk, inside the window, spell
  the asset in lower case. With the programme this pays ~$5.5 per user of the dataset
  (seed 7: $1.15M at 200k users, $5.93M at 1M, $54.4M at 10M), so ~$272M at 50M users
  (the exchange-scale benchmark), near the ~$283M Binance paid and under the
  programme's $300M budget; prior_compensation's ``depeg-2025-10`` rows, heavy-tailed,
  add up to $3-5 per user.

The knobs are the module constants below (shares, chunk size, Parquet settings);
changing any of them changes the bytes produced for a given seed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recompense.atomic import (
    discard,
    is_disk_error,
    make_folders,
    remove_made,
    remove_stale_temps,
    sync_folder,
    sync_tree,
    temp_sibling,
)
from recompense.data import contract

__all__ = ["ACCOUNT_BASE", "CHUNK_USERS", "ROW_GROUP_ROWS", "SynthSummary", "generate"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Idx = npt.NDArray[np.intp]
Mask = npt.NDArray[np.bool_]
Rng = np.random.Generator

CHUNK_USERS = 500_000
ACCOUNT_BASE = 10_000_000_000  # account ids start above any plausible user id
ROW_GROUP_ROWS = 1 << 20
_PARQUET: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
}

SHARE_VIP, SHARE_INSTITUTIONAL = 0.02, 0.002
SHARE_LIQUIDATED = (0.0395, 0.06, 0.05)  # by user type: retail, vip, institutional
SHARE_WITH_SUBS = (0.19, 0.6, 0.9)
SHARE_INACTIVE = 0.35
SHARE_NEGATIVE = 0.01  # of liquidated users
SHARE_ADL = 0.05
SHARE_OUTSIDE = 0.02
SHARE_PRIOR = 0.03
SHARE_COLLATERAL = (0.05, 0.0021)  # de-peg collateral liquidated: of liquidated / other users
SHARE_COLLATERAL_OUTSIDE = 0.07  # of collateral events: outside [21:36, 22:17) Oct 10
SHARE_ABOVE = (0.03, 0.03)  # filled above any reference: of events / of users (all theirs)


@dataclass(frozen=True, slots=True)
class SynthSummary:
    """Row counts of a generated dataset and where it was written."""

    users: int
    accounts: int
    balances: int
    prices: int
    liquidations: int
    liquidated_users: int
    prior_compensation: int
    collateral_liquidations: int
    collateral_users: int
    reference_prices: int
    out: Path


def generate(
    users: int,
    seed: int,
    out: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> SynthSummary:
    """Write a synthetic crash dataset of ``users`` users into the new folder ``out``.

    Raises ``FileExistsError`` if ``out`` exists and is not an empty folder, and
    ``ValueError`` for ``users < 1`` or a negative seed. ``progress(done, total)`` is
    called after each chunk of users is written. On any error nothing is left behind
    (neither the hidden ``.NAME.tmp-PID`` folder it builds in nor the parents it made),
    and the ``OSError`` of a failed write propagates as it is: a full or read-only disk
    is told apart from a bad path by :func:`recompense.atomic.disk_error`.
    """
    if users < 1 or seed < 0:
        raise ValueError(f"need users >= 1 and seed >= 0, got users={users} seed={seed}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder")
    made = make_folders(out.parent)
    tmp = temp_sibling(out)
    try:
        remove_stale_temps(out)
        discard(tmp)
        tmp.mkdir()
        counts = _write_dataset(users, seed, tmp, progress)
        sync_tree(tmp)
        _publish(tmp, out)
    except BaseException:
        discard(tmp)
        remove_made(made)
        raise
    return SynthSummary(**counts, out=out)


def _publish(tmp: Path, out: Path) -> None:
    try:
        if out.is_dir():
            out.rmdir()  # empty, checked earlier; refuses if someone filled it since
        os.replace(tmp, out)
    except OSError as exc:
        if is_disk_error(exc):
            raise
        raise FileExistsError(f"{out} appeared while generating; left untouched") from exc
    sync_folder(out.parent)


# ---------------------------------------------------------------------------------
# Writing


def _write_dataset(
    users: int, seed: int, folder: Path, progress: Callable[[int, int], None] | None
) -> dict[str, int]:
    writers = {
        t.name: pq.ParquetWriter(folder / f"{t.name}.parquet", _SCHEMAS[t.name], **_PARQUET)
        for t in contract.TABLES
    }
    counts = dict.fromkeys((t.name for t in contract.TABLES), 0)
    counts |= {"liquidated_users": 0, "collateral_users": 0}
    try:
        market = _market(seed)
        _write(writers["prices"], market.table, counts, "prices")
        _write(writers["reference_prices"], market.references, counts, "reference_prices")
        starts = range(0, users, CHUNK_USERS)
        with ThreadPoolExecutor(max_workers=1) as pool:
            job: Future[_Chunk] = pool.submit(_chunk, seed, 0, users, market, (0, 0))
            for number, start in enumerate(starts):
                chunk = job.result()
                if start + CHUNK_USERS < users:
                    job = pool.submit(_chunk, seed, number + 1, users, market, chunk.ids_end)
                for name, table in chunk.tables.items():
                    _write(writers[name], table, counts, name)
                counts["liquidated_users"] += chunk.liquidated
                counts["collateral_users"] += chunk.collateral_users
                if progress is not None:
                    progress(min(start + CHUNK_USERS, users), users)
    except BaseException:
        for writer in writers.values():
            with suppress(Exception):  # a full disk fails the close too: keep the first error
                writer.close()
        raise
    for writer in writers.values():
        writer.close()
    return counts


def _write(writer: pq.ParquetWriter, table: pa.Table, counts: dict[str, int], name: str) -> None:
    if table.num_rows:
        writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
    counts[name] += table.num_rows


def _arrow_type(kind: contract.ColumnKind) -> pa.DataType:
    return {
        "int": pa.int64(),
        "str": pa.string(),
        "enum": pa.string(),
        "ts": pa.timestamp("us", tz="UTC"),
        "num": pa.float64(),
    }[kind]


# The de-peg tables carry exact decimals; the others keep float64 (their bytes unchanged).
_DECIMAL = pa.decimal128(38, contract.SCALE)
_EXACT_TABLES = frozenset({"collateral_liquidations", "reference_prices"})
_SCHEMAS = {
    t.name: pa.schema(
        [
            (
                c.name,
                _DECIMAL if c.kind == "num" and t.name in _EXACT_TABLES else _arrow_type(c.kind),
            )
            for c in t.columns
        ]
    )
    for t in contract.TABLES
}
_TS = pa.timestamp("us", tz="UTC")


def _table(name: str, columns: Sequence[Any]) -> pa.Table:
    schema = _SCHEMAS[name]
    arrays = [
        c if isinstance(c, pa.Array) else pa.array(c, type=f.type)
        for c, f in zip(columns, schema, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _labels(values: Sequence[str], codes: npt.NDArray[Any]) -> pa.Array:
    return pc.take(pa.array(values, type=pa.string()), pa.array(codes.astype(np.int32)))


# ---------------------------------------------------------------------------------
# Time and prices

MINUTE_US = 60_000_000
GRID_START_US = int(datetime(2025, 10, 9, tzinfo=UTC).timestamp()) * 1_000_000
MINUTES = 4 * 1440  # 2025-10-09 00:00 .. 2025-10-12 23:59
SNAPSHOT_MINUTE = 1439  # 2025-10-09 23:59, the balances snapshot
_CRASH_MINUTES = (1440 + 20 * 60 + 45, 1440 + 23 * 60)  # 20:45-23:00 Oct 10: vol ×4


def _minute(stamp: str) -> int:
    """``"DD HH:MM"`` in October 2025 -> minutes since 2025-10-09 00:00 UTC."""
    day, hm = stamp.split()
    return (int(day) - 9) * 1440 + int(hm[:2]) * 60 + int(hm[3:])


@dataclass(frozen=True, slots=True)
class _Path:
    anchors: str  # "DD HH:MM price; ..." ; the first at 09 00:00, the last at 12 23:59
    vol: float  # per-minute log volatility of the bridge outside the crash window
    base: str | None = None  # anchors are a ratio to this asset's path
    jitter: float = 0.0  # iid multiplicative noise (stablecoins)
    gaps: bool = False  # skip some minutes


_BTC = """
09 00:00 123310; 09 01:00 122834; 09 02:00 122499; 09 02:40 121452; 09 03:00 121753
09 04:00 122065; 09 06:00 122107; 09 08:00 121884; 09 08:50 121150; 09 09:00 121357
09 10:00 121761; 09 11:00 122241; 09 12:00 122734; 09 12:50 123705; 09 13:00 123484
09 13:59 122372; 09 14:40 120877; 09 15:00 121557; 09 16:00 121219; 09 16:59 119893
09 17:59 121033; 09 18:59 120704; 09 20:00 121056; 09 21:00 121108; 09 22:00 121448
09 22:59 121707; 09 23:59 121662; 10 00:59 121774; 10 01:59 121658; 10 02:59 121051
10 03:59 121026; 10 04:59 121236; 10 05:59 121571; 10 06:59 121353; 10 07:59 120922
10 08:59 121634; 10 09:59 121306; 10 10:59 121500; 10 11:59 121559; 10 12:59 121595
10 13:35 122450; 10 13:59 121666; 10 14:59 120496; 10 15:40 118610; 10 15:59 119013
10 16:59 118186; 10 17:59 117588; 10 18:59 117222; 10 19:40 115997; 10 19:59 116625
10 20:30 116885; 10 20:45 117002; 10 20:49 116848; 10 20:50 116400; 10 20:52 115724
10 20:56 114291; 10 20:59 114275; 10 21:04 115057; 10 21:10 114322; 10 21:13 111568
10 21:15 111207; 10 21:16 109690; 10 21:17 107592; 10 21:18 109475; 10 21:19 104953
10 21:20 101900; 10 21:21 107456; 10 21:24 109009; 10 21:26 107000; 10 21:30 109964
10 21:35 111844; 10 21:37 112000; 10 21:45 112452; 10 21:47 113816; 10 21:50 112826
10 21:59 113671; 10 22:05 112024; 10 22:14 114077; 10 22:30 112550; 10 22:48 114531
10 23:00 114021; 10 23:59 112993; 11 01:00 111075; 11 02:00 111550; 11 03:00 113227
11 04:00 112280; 11 06:00 112077; 11 07:30 110328; 11 08:00 110250; 11 10:00 111744
11 11:00 112296; 11 12:00 112186; 11 14:00 112276; 11 16:00 111891; 11 18:00 111919
11 19:00 110847; 11 20:00 110864; 11 21:00 109608; 11 22:00 110806; 11 23:00 111193
12 00:00 110409; 12 01:00 109597; 12 02:00 110244; 12 03:00 111116; 12 04:00 110802
12 06:00 111660; 12 08:00 111584; 12 10:00 111939; 12 12:00 111962; 12 14:00 111375
12 15:30 113625; 12 16:00 113841; 12 18:00 113995; 12 20:00 114565; 12 21:00 115333
12 22:00 115220; 12 23:59 115300
"""
_ETH = """
09 00:00 4450; 09 06:00 4420; 09 12:00 4460; 09 16:59 4330; 09 20:00 4360; 09 23:59 4370
10 00:30 4383; 10 01:28 4395; 10 03:00 4349; 10 06:00 4330; 10 09:00 4324; 10 12:00 4350
10 13:35 4372; 10 14:00 4280; 10 15:00 4104; 10 17:00 4095; 10 18:00 4054; 10 19:00 3998
10 20:45 4010; 10 20:50 3930; 10 20:55 3863; 10 21:00 3903; 10 21:05 3902; 10 21:10 3713
10 21:14 3690; 10 21:17 3650; 10 21:19 3600; 10 21:20 3540; 10 21:21 3700; 10 21:25 3824
10 21:30 3716; 10 21:35 4004; 10 21:40 3853; 10 21:45 4020; 10 22:00 4000; 10 23:00 3943
10 23:59 3830; 11 06:00 3790; 11 12:00 3800; 11 18:00 3740; 11 23:59 3750; 12 06:00 3860
12 12:00 3930; 12 18:00 4100; 12 23:59 4150
"""
_SOL = """
09 00:00 227; 09 12:00 225; 09 16:59 219; 09 23:59 221; 10 00:30 221.4; 10 07:00 218.2
10 13:00 223.4; 10 14:12 224.5; 10 15:00 210.9; 10 18:00 207.5; 10 20:00 204.2
10 20:45 207.1; 10 20:52 203.3; 10 21:05 197.2; 10 21:10 184.8; 10 21:15 180.0
10 21:20 176.5; 10 21:23 179.1; 10 21:29 172.1; 10 21:35 186.8; 10 21:40 185.0
10 21:45 199.0; 10 21:50 195.0; 10 22:00 197.2; 10 23:00 190.7; 10 23:59 183.0
11 06:00 182; 11 12:00 184; 11 18:00 179; 11 23:59 180; 12 06:00 185; 12 12:00 188
12 18:00 194; 12 23:59 197
"""
_XRP = """
09 00:00 2.86; 09 12:00 2.84; 09 16:59 2.78; 09 23:59 2.81; 10 00:30 2.812; 10 07:00 2.803
10 13:39 2.8375; 10 14:00 2.806; 10 15:00 2.743; 10 18:00 2.710; 10 19:00 2.678
10 20:45 2.695; 10 20:50 2.645; 10 20:59 2.493; 10 21:05 2.544; 10 21:10 2.294
10 21:15 2.200; 10 21:21 2.100; 10 21:25 2.201; 10 21:30 2.382; 10 21:35 2.565
10 21:40 2.331; 10 21:50 2.431; 10 22:00 2.475; 10 22:59 2.373; 10 23:59 2.450
11 06:00 2.43; 11 12:00 2.42; 11 18:00 2.36; 11 23:59 2.38; 12 06:00 2.40; 12 12:00 2.45
12 18:00 2.52; 12 23:59 2.55
"""
_BNB = """
09 00:00 1295; 09 12:00 1270; 09 23:59 1238; 10 06:00 1225; 10 13:35 1245; 10 15:00 1205
10 18:00 1190; 10 20:50 1165; 10 21:10 1110; 10 21:20 1040; 10 21:30 1090; 10 21:45 1125
10 22:00 1120; 10 23:59 1115; 11 12:00 1140; 11 23:59 1150; 12 12:00 1240; 12 23:59 1290
"""
_DOGE = """
09 00:00 0.256; 09 12:00 0.254; 09 23:59 0.250; 10 13:35 0.253; 10 15:00 0.244
10 18:00 0.240; 10 20:50 0.233; 10 21:10 0.205; 10 21:20 0.165; 10 21:30 0.180
10 21:45 0.195; 10 22:00 0.193; 10 23:59 0.196; 11 12:00 0.199; 11 23:59 0.197
12 12:00 0.202; 12 23:59 0.208
"""
_LINK = """
09 00:00 22.6; 09 23:59 22.0; 10 13:35 22.2; 10 18:00 21.0; 10 20:50 20.4; 10 21:10 18.5
10 21:20 14.2; 10 21:30 16.8; 10 21:45 18.2; 10 23:59 18.1; 11 12:00 18.3; 11 23:59 18.0
12 12:00 18.6; 12 23:59 19.2
"""
_ADA = """
09 00:00 0.850; 09 23:59 0.835; 10 13:35 0.840; 10 18:00 0.800; 10 20:50 0.780
10 21:10 0.700; 10 21:20 0.520; 10 21:30 0.600; 10 21:45 0.650; 10 23:59 0.660
11 12:00 0.670; 11 23:59 0.660; 12 12:00 0.690; 12 23:59 0.710
"""
_USDE = """
09 00:00 1.0001; 09 12:00 1.0001; 10 00:00 1.0000; 10 12:00 1.0002; 10 21:00 1.0000
10 21:17 0.9997; 10 21:19 0.9993; 10 21:20 0.9000; 10 21:21 0.9300; 10 21:22 0.9000
10 21:26 0.9003; 10 21:27 0.9599; 10 21:28 0.9300; 10 21:29 0.9598; 10 21:30 0.9303
10 21:33 0.9421; 10 21:35 0.9002; 10 21:36 0.8400; 10 21:38 0.8000; 10 21:40 0.7600
10 21:42 0.6800; 10 21:43 0.6651; 10 21:44 0.6700; 10 21:46 0.7850; 10 21:48 0.8320
10 21:50 0.9300; 10 21:52 0.9260; 10 21:53 0.8800; 10 21:54 0.6500; 10 21:55 0.8507
10 21:57 0.9000; 10 22:00 0.9500; 10 22:04 0.9639; 10 22:06 0.9100; 10 22:10 0.9480
10 22:16 0.9699; 10 22:29 0.9701; 10 22:30 0.9830; 10 22:40 0.9915; 10 23:00 0.9923
10 23:30 0.9971; 11 00:00 0.9985; 11 06:00 0.9989; 11 12:00 0.9989; 11 23:59 0.9993
12 12:00 0.9997; 12 23:59 0.9997
"""
_BNSOL = """
09 00:00 1.0685; 10 21:35 1.0686; 10 21:36 0.90; 10 21:38 0.55; 10 21:41 0.30
10 21:43 0.18; 10 21:46 0.35; 10 21:50 0.62; 10 21:55 0.80; 10 22:00 0.90; 10 22:10 0.97
10 22:20 1.02; 10 22:30 1.055; 10 23:00 1.066; 12 23:59 1.0687
"""
_WBETH = """
09 00:00 1.0738; 10 21:35 1.0739; 10 21:36 0.92; 10 21:39 0.60; 10 21:42 0.25
10 21:44 0.11; 10 21:47 0.30; 10 21:52 0.58; 10 21:58 0.80; 10 22:05 0.90; 10 22:15 0.97
10 22:25 1.04; 10 22:30 1.065; 10 23:00 1.073; 12 23:59 1.0740
"""
_FLAT = "09 00:00 1; 12 23:59 1"

# Asset order is the code used everywhere below; derived paths come after their base.
PATHS: dict[str, _Path] = {
    "BTC": _Path(_BTC, 0.0004),
    "ETH": _Path(_ETH, 0.0006),
    "SOL": _Path(_SOL, 0.0008),
    "XRP": _Path(_XRP, 0.0008),
    "BNB": _Path(_BNB, 0.0006),
    "DOGE": _Path(_DOGE, 0.0009, gaps=True),
    "USDT": _Path(_FLAT, 0.0),
    "USDC": _Path(_FLAT, 0.0, jitter=0.00006),
    "USDE": _Path(_USDE, 0.00002),
    "BNSOL": _Path(_BNSOL, 0.00003, base="SOL"),
    "WBETH": _Path(_WBETH, 0.00003, base="ETH"),
    "LINK": _Path(_LINK, 0.0009, gaps=True),
    "ADA": _Path(_ADA, 0.0009, gaps=True),
}
ASSETS = tuple(PATHS)
_A = {name: i for i, name in enumerate(ASSETS)}


@dataclass(frozen=True, slots=True)
class _Market:
    asof: F64  # (asset, minute) -> latest listed price at or before that minute
    table: pa.Table
    references: pa.Table  # reference_prices: the de-peg assets at REFERENCE_MINUTE
    above: F64  # per _COLLATERAL asset: a price no adjusted reference can exceed (USD)


def _market(seed: int) -> _Market:
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(0,))))
    paths: dict[str, F64] = {}
    present = np.ones((len(ASSETS), MINUTES), dtype=bool)
    for a, (name, spec) in enumerate(PATHS.items()):
        paths[name] = _path(rng, spec, paths)
        if spec.gaps:
            present[a] = _listed_minutes(rng)
    usd = np.stack([paths[name] for name in ASSETS])
    grid = np.arange(MINUTES)
    last = np.maximum.accumulate(np.where(present, grid, 0), axis=1)
    asof = np.take_along_axis(usd, last, axis=1)
    a_idx, m_idx = np.nonzero(present)
    table = _table(
        "prices",
        [
            _labels(ASSETS, a_idx),
            GRID_START_US + m_idx.astype(np.int64) * MINUTE_US,
            usd[a_idx, m_idx],
        ],
    )
    return _Market(asof, table, *_references(asof[:, REFERENCE_MINUTE]))


def _path(rng: Rng, spec: _Path, done: dict[str, F64]) -> F64:
    items = [part.split() for part in spec.anchors.replace("\n", ";").split(";") if part.strip()]
    at = np.array([_minute(f"{d} {hm}") for d, hm, _ in items])
    level = np.log([float(v) for *_, v in items])
    grid = np.arange(MINUTES)
    vol = np.full(MINUTES, spec.vol)
    vol[_CRASH_MINUTES[0] : _CRASH_MINUTES[1]] *= 4.0
    walk = np.cumsum(rng.standard_normal(MINUTES) * vol)
    logp = np.interp(grid, at, level) + walk - np.interp(grid, at, walk[at])
    if spec.base is not None:
        logp += np.log(done[spec.base])
    price = np.exp(logp)
    noise = rng.standard_normal(MINUTES)
    if spec.jitter:
        price *= 1.0 + spec.jitter * np.clip(noise, -3.0, 3.0)
    decimals = 6 - math.floor(math.log10(float(price[0])))  # 7 significant digits
    rounded: F64 = np.round(price, decimals)
    return rounded


def _listed_minutes(rng: Rng) -> Mask:
    """Minutes with a price: ~0.2% single missing minutes (never adjacent) and one
    missing run of 5-45 minutes per day, so no gap reaches 60 minutes."""
    grid = np.arange(MINUTES)
    listed = ~((rng.random(MINUTES) < 0.006) & (grid % 3 == 1))
    starts = np.arange(4) * 1440 + rng.integers(60, 1380, size=4)
    lengths = rng.integers(5, 46, size=4)
    for start, length in zip(starts, lengths, strict=True):  # four runs, not per row
        listed[start : start + length] = False
    mask: Mask = listed
    return mask


# ---------------------------------------------------------------------------------
# Users, accounts, balances, liquidations, prior compensation

_REG_START_US = int(datetime(2017, 7, 14, tzinfo=UTC).timestamp()) * 1_000_000
_REG_SPAN_S = int(
    (datetime(2025, 10, 9, tzinfo=UTC) - datetime(2017, 7, 14, tzinfo=UTC)).total_seconds()
)
_LOCALES = "en 40, es 16, pt-BR 7, tr 6, vi 6, ru 5, fr 4, de 3, uk 2, id 2, ja 2, ko 2, zh-TW 2, "
_LOCALES += "ar 1, pl 1, it 1"
_W = {name: i for i, name in enumerate(contract.WALLETS)}
_PRODUCT_WALLET = np.array([_W[p] for p in contract.PRODUCTS])
_PRODUCT_P = (0.70, 0.10, 0.08, 0.05, 0.07)
_MARGIN_WALLETS = np.array([_W["cross_margin"], _W["isolated_margin"], _W["portfolio_margin"]])
_FUTURES_WALLETS = np.array([_W["usdm_futures"], _W["coinm_futures"]])
_WALLET_P = {  # random balance rows: users never liquidated / liquidated users
    False: (0.42, 0.15, 0.20, 0.10, 0.02, 0.06, 0.02, 0.03),
    True: (0.30, 0.08, 0.12, 0.25, 0.05, 0.10, 0.04, 0.06),
}
_WALLET_ASSETS = {  # which assets a random balance row of each wallet holds
    "spot": "BTC 14, ETH 10, SOL 6, XRP 6, BNB 8, DOGE 5, USDT 30, USDC 7, USDE 3, BNSOL 2, "
    "WBETH 2, LINK 3.5, ADA 3.5",
    "funding": "USDT 60, USDC 20, BTC 10, ETH 10",
    "earn": "USDT 25, USDC 15, USDE 15, BNSOL 10, WBETH 10, BNB 10, ETH 5, BTC 5, SOL 5",
    "usdm_futures": "USDT 70, USDC 15, USDE 6, BTC 3, BNSOL 3, WBETH 3",
    "coinm_futures": "BTC 45, ETH 25, SOL 10, XRP 6, BNB 5, DOGE 4, LINK 3, ADA 2",
    "cross_margin": "USDT 45, BTC 15, ETH 12, SOL 6, BNB 5, USDE 7, USDC 10",
    "isolated_margin": "USDT 55, BTC 15, ETH 12, SOL 8, DOGE 5, XRP 5",
    "portfolio_margin": "USDT 40, USDC 15, USDE 15, BNSOL 8, WBETH 8, BTC 8, ETH 6",
}


def _mix(text: str) -> dict[str, float]:
    """``"a 3, b 1"`` -> ``{"a": 0.75, "b": 0.25}``."""
    pairs = [item.split() for item in text.split(",")]
    total = sum(float(w) for _, w in pairs)
    return {name: float(w) / total for name, w in pairs}


_ASSET_CUM = np.cumsum(
    [[_mix(_WALLET_ASSETS[w]).get(a, 0.0) for a in ASSETS] for w in contract.WALLETS], axis=1
)
_ASSET_CUM[_ASSET_CUM > 1.0 - 1e-9] = 1.0  # so rounding never picks a zero-weight asset
_COINS = ("BTC", "ETH", "SOL", "XRP", "BNB", "DOGE", "LINK", "ADA")
_COIN_P = (0.35, 0.25, 0.12, 0.08, 0.05, 0.07, 0.04, 0.04)
_COIN_ASSET = np.array([_A[c] for c in _COINS])
_COIN_OF_ASSET = np.full(len(ASSETS), -1)
_COIN_OF_ASSET[_COIN_ASSET] = np.arange(len(_COINS))
_SYMBOLS = tuple(f"{c}{q}" for c in _COINS for q in ("USDT", "USDC", "USD_PERP"))
_PROGRAMS = ("depeg-2025-10", "transfer-delay-2025-10")


@dataclass(frozen=True, slots=True)
class _Chunk:
    tables: dict[str, pa.Table]
    liquidated: int
    collateral_users: int
    ids_end: tuple[int, int]  # fill ids and collateral event ids used so far, over all chunks


@dataclass(frozen=True, slots=True)
class _Crowd:
    """Per-user facts of one chunk; arrays over liquidated users are indexed like ``liq``."""

    ids: I64
    utype: Idx
    n_sub: I64
    nav: F64  # gross USD value of the user's balance rows
    liq: Idx  # chunk-local indices of liquidated users
    negative: Mask  # net assets <= 0
    deficit: F64  # USD by which liabilities exceed holdings (negative users)
    acct_k: I64  # account suffix the user was liquidated on
    product: Idx  # (L, 2) product codes, -1 = no second product
    margin: Idx  # (L, 2) margin asset codes
    loss: F64  # USD


def _chunk(
    seed: int, number: int, total: int, market: _Market, ids_start: tuple[int, int]
) -> _Chunk:
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(1, number))))
    first = number * CHUNK_USERS
    ids = np.arange(first + 1, min(first + CHUNK_USERS, total) + 1, dtype=np.int64)
    crowd = _crowd(rng, ids)
    fills_start, events_start = ids_start
    fills = _liquidations(rng, crowd, market.asof, fills_start)
    tables = {
        "users": _users(rng, crowd, total),
        "accounts": _accounts(crowd),
        "balances": _balances(rng, crowd, market.asof[:, SNAPSHOT_MINUTE]),
        "liquidations": fills,
        "prior_compensation": _prior(rng, crowd),
    }
    # Its own stream, so the tables above are the bytes they were before it existed.
    own = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(2, number))))
    events, holders = _collateral(own, crowd, tables["prior_compensation"], market, events_start)
    tables["collateral_liquidations"] = events
    ends = (fills_start + fills.num_rows, events_start + events.num_rows)
    return _Chunk(tables, len(crowd.liq), holders, ends)


def _pick(rng: Rng, weights: Sequence[float], n: int) -> Idx:
    cum = np.cumsum(np.asarray(weights, dtype=np.float64))
    return np.minimum(np.searchsorted(cum / cum[-1], rng.random(n), side="right"), len(cum) - 1)


def _crowd(rng: Rng, ids: I64) -> _Crowd:
    n = len(ids)
    u = rng.random(n)
    utype = np.where(
        u < SHARE_INSTITUTIONAL, 2, np.where(u < SHARE_INSTITUTIONAL + SHARE_VIP, 1, 0)
    )
    has_sub = rng.random(n) < np.asarray(SHARE_WITH_SUBS)[utype]
    n_sub = np.where(has_sub, 1 + _pick(rng, (0.55, 0.25, 0.20), n), 0).astype(np.int64)
    nav = _net_worth(rng, utype)
    liq = np.flatnonzero(rng.random(n) < np.asarray(SHARE_LIQUIDATED)[utype])
    size = len(liq)
    nav[liq] *= 2.5  # traders who get liquidated hold more than the average account
    on_sub = (n_sub[liq] > 0) & (rng.random(size) < 0.5)
    acct_k = np.where(on_sub, 1 + np.floor(rng.random(size) * n_sub[liq]), 0).astype(np.int64)
    product = np.stack([_pick(rng, _PRODUCT_P, size), _pick(rng, _PRODUCT_P, size)], axis=1)
    product[rng.random(size) >= 0.2, 1] = -1
    coin = _COIN_ASSET[_pick(rng, _COIN_P, 2 * size)].reshape(size, 2)
    stable = np.where(rng.random((size, 2)) < 0.85, _A["USDT"], _A["USDC"])
    margin = np.where(product == contract.PRODUCTS.index("coinm_futures"), coin, stable)
    negative = rng.random(size) < SHARE_NEGATIVE
    deficit = np.where(negative, rng.lognormal(math.log(200.0), 1.2, size), 0.0)
    ratio = np.where(rng.random(size) < 0.02, rng.uniform(1.0, 1.6, size), rng.beta(1.3, 2.6, size))
    loss = np.where(negative, rng.lognormal(math.log(300.0), 1.3, size), ratio * nav[liq])
    return _Crowd(
        ids,
        utype,
        n_sub,
        nav,
        liq,
        negative,
        deficit,
        acct_k,
        product,
        margin,
        np.maximum(loss, 0.5),
    )


def _net_worth(rng: Rng, utype: Idx) -> F64:
    """USD net worth: lognormal body (median $600) with a 2% Pareto tail, capped at $50M."""
    n = len(utype)
    body = rng.lognormal(math.log(600.0), 1.6, n)
    tail = 20_000.0 * (1.0 + rng.pareto(1.2, n))
    nav = np.where(rng.random(n) < 0.02, tail, body) * np.array([1.0, 20.0, 200.0])[utype]
    clipped: F64 = np.clip(nav, 0.5, 5e7)
    return clipped


def _users(rng: Rng, crowd: _Crowd, total: int) -> pa.Table:
    ids, utype = crowd.ids, crowd.utype
    n = len(ids)
    retail = np.where(rng.random(n) < 0.9, 0, np.minimum(rng.geometric(0.6, n), 3))
    tier = np.select(
        [utype == 0, utype == 1], [retail, 1 + rng.binomial(8, 0.3, n)], 5 + rng.binomial(4, 0.5, n)
    )
    age = np.clip((ids / total) ** 0.55 + rng.normal(0.0, 0.003, n), 0.0, 1.0 - 1e-9)
    registered = _REG_START_US + (age * _REG_SPAN_S).astype(np.int64) * 1_000_000
    phone_only = rng.random(n) < 0.01
    email = pc.binary_join_element_wise(
        "user", pc.cast(pa.array(ids, mask=phone_only), pa.string()), "@example.com", ""
    )
    locales = _mix(_LOCALES)
    locale = _labels(tuple(locales), _pick(rng, tuple(locales.values()), n))
    return _table(
        "users",
        [
            ids,
            _labels(contract.USER_TYPES, utype),
            tier.astype(np.int64),
            registered,
            email,
            locale,
        ],
    )


def _accounts(crowd: _Crowd) -> pa.Table:
    n_acc = 1 + crowd.n_sub
    owner = np.repeat(crowd.ids, n_acc)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(n_acc) - n_acc, n_acc)
    return _table(
        "accounts",
        [
            ACCOUNT_BASE + owner * 10 + k,
            owner,
            _labels(contract.ACCOUNT_KINDS, (k > 0).astype(np.int8)),
        ],
    )


def _balances(rng: Rng, crowd: _Crowd, snap: F64) -> pa.Table:
    user, wallet, asset, acct_k, boost = _balance_rows(rng, crowd)
    key = ((crowd.ids[user] * 10 + acct_k) * 16 + wallet) * 16 + asset
    weight = rng.exponential(1.0, len(key)) * boost
    _, keep = np.unique(key, return_index=True)  # sorted by account, wallet, asset
    user, wallet, asset, acct_k, weight = (
        user[keep],
        wallet[keep],
        asset[keep],
        acct_k[keep],
        weight[keep],
    )
    total = np.bincount(user, weight, minlength=len(crowd.ids))
    units = weight / total[user] * crowd.nav[user] / snap[asset]
    balance, liability, upnl = _leverage(rng, wallet, units)
    _sink(crowd, user, wallet, asset, acct_k, snap, liability, upnl)
    account = ACCOUNT_BASE + crowd.ids[user] * 10 + acct_k
    return _table(
        "balances",
        [
            account,
            _labels(contract.WALLETS, wallet),
            _labels(ASSETS, asset),
            *(np.round(x, 8) for x in (balance, liability, upnl)),
        ],
    )


def _balance_rows(rng: Rng, crowd: _Crowd) -> tuple[Idx, Idx, Idx, I64, F64]:
    """Candidate rows: liquidated users' product wallets first (boosted), then random rows."""
    n, liq = len(crowd.ids), crowd.liq
    is_liq = np.zeros(n, dtype=bool)
    is_liq[liq] = True
    count = np.where(rng.random(n) < SHARE_INACTIVE, 0, rng.geometric(0.55, n))
    count[liq] = rng.geometric(0.5, len(liq))
    user = np.repeat(np.arange(n), count)
    wallet = np.where(
        is_liq[user],
        _pick(rng, _WALLET_P[True], len(user)),
        _pick(rng, _WALLET_P[False], len(user)),
    )
    asset = (
        (rng.random(len(user))[:, None] > _ASSET_CUM[wallet]).sum(axis=1).clip(0, len(ASSETS) - 1)
    )
    subs = crowd.n_sub[user]
    acct_k = np.where(rng.random(len(user)) < 0.6, 0, np.ceil(rng.random(len(user)) * subs)).astype(
        np.int64
    )
    held = crowd.product >= 0
    g_user = np.broadcast_to(liq[:, None], held.shape)[held]
    g_wallet = _PRODUCT_WALLET[crowd.product[held]]
    g_acct = np.broadcast_to(crowd.acct_k[:, None], held.shape)[held]
    boost = np.concatenate([np.full(len(g_user), 4.0), np.ones(len(user))])
    return (
        np.concatenate([g_user, user]),
        np.concatenate([g_wallet, wallet]),
        np.concatenate([crowd.margin[held], asset]),
        np.concatenate([g_acct, acct_k]),
        boost,
    )


def _leverage(rng: Rng, wallet: Idx, units: F64) -> tuple[F64, F64, F64]:
    """Spread each row's net ``units`` into balance, liability and unrealised PnL."""
    n = len(units)
    borrow = np.isin(wallet, _MARGIN_WALLETS) & (rng.random(n) < 0.4)
    r = np.where(borrow, rng.uniform(0.1, 0.75, n), 0.0)
    open_pos = np.isin(wallet, _FUTURES_WALLETS) & (rng.random(n) < 0.7)
    f = np.where(open_pos, rng.uniform(-0.4, 0.4, n), 0.0)
    balance = units / (1.0 - r) / (1.0 + f)
    return balance, balance * r * (1.0 + f), balance * f * (1.0 - r)


def _sink(
    crowd: _Crowd,
    user: Idx,
    wallet: Idx,
    asset: Idx,
    acct_k: I64,
    snap: F64,
    liability: F64,
    upnl: F64,
) -> None:
    """Push negative users under water on their first product row (in place)."""
    neg = crowd.liq[crowd.negative]
    if not len(neg):
        return
    row = np.flatnonzero(np.isin(user, neg))
    first = crowd.product[crowd.negative, 0]
    want = (
        (crowd.ids[neg] * 10 + crowd.acct_k[crowd.negative]) * 256
        + _PRODUCT_WALLET[first] * 16
        + crowd.margin[crowd.negative, 0]
    )
    have = (crowd.ids[user[row]] * 10 + acct_k[row]) * 256 + wallet[row] * 16 + asset[row]
    target = row[np.searchsorted(have, want)]  # rows are sorted by this key
    usd = crowd.nav[neg] + crowd.deficit[crowd.negative]
    extra = usd / snap[asset[target]]
    margin = np.isin(wallet[target], _MARGIN_WALLETS)
    liability[target[margin]] += extra[margin]
    upnl[target[~margin]] -= extra[~margin]


def _liquidations(rng: Rng, crowd: _Crowd, asof: F64, fills_start: int) -> pa.Table:
    size = len(crowd.liq)
    count = np.minimum(np.ceil(rng.lognormal(1.65, 1.1, size)), 2000).astype(np.int64)
    who = np.repeat(np.arange(size), count)
    n = len(who)
    slot = ((crowd.product[who, 1] >= 0) & (rng.random(n) < 0.25)).astype(np.intp)
    product, margin = crowd.product[who, slot], crowd.margin[who, slot]
    adl = rng.random(n) < SHARE_ADL
    ts = _fill_times(rng, who, size)
    order = np.lexsort((ts, who))
    who, product, margin, adl, ts = who[order], product[order], margin[order], adl[order], ts[order]
    pnl_usd, fee_usd = _fill_pnl(rng, crowd.loss, who, adl)
    price = asof[margin, (ts - GRID_START_US) // MINUTE_US]
    coinm = product == contract.PRODUCTS.index("coinm_futures")
    base = np.where(coinm, _COIN_OF_ASSET[margin], _pick(rng, _COIN_P, n))
    quote = np.where(coinm, 2, np.where(margin == _A["USDC"], 1, 0))
    account = ACCOUNT_BASE + crowd.ids[crowd.liq[who]] * 10 + crowd.acct_k[who]
    return _table(
        "liquidations",
        [
            fills_start + 1 + np.arange(n, dtype=np.int64),
            account,
            _labels(contract.PRODUCTS, product),
            _labels(contract.FILL_KINDS, adl.astype(np.int8)),
            _labels(_SYMBOLS, base * 3 + quote),
            pa.array(ts, type=_TS),
            _labels(ASSETS, margin),
            np.round(pnl_usd / price, 8),
            np.round(fee_usd / price, 8),
        ],
    )


def _fill_times(rng: Rng, who: Idx, size: int) -> I64:
    """Microseconds UTC: each user's cascade around a personal start, a few strays."""
    n = len(who)
    start = _crash_minutes(rng, size)[who]
    cascade = start + np.abs(rng.normal(0.0, 3.0, n))
    minutes = np.where(rng.random(n) < 0.7, cascade, _crash_minutes(rng, n))
    outside = rng.random(n) < SHARE_OUTSIDE
    stray = np.where(rng.random(n) < 0.5, 0.0, 3 * 1440.0) + rng.uniform(0.0, 1440.0, n)
    minutes = np.clip(np.where(outside, stray, minutes), 0.0, MINUTES - 1e-6)
    ts = GRID_START_US + (minutes * MINUTE_US).astype(np.int64)
    edges = np.array(
        [
            _us(2025, 10, 10),
            _us(2025, 10, 12) - 1,
            _us(2025, 10, 12) - 30_000_000,
            _us(2025, 10, 12),
            _us(2025, 10, 10) - 1,
        ]
    )
    at_edge = rng.choice(n, size=min(n, max(len(edges), n // 2000)), replace=False)
    ts[at_edge] = edges[np.arange(len(at_edge)) % len(edges)]
    return ts


def _us(year: int, month: int, day: int) -> int:
    return int(datetime(year, month, day, tzinfo=UTC).timestamp()) * 1_000_000


def _crash_minutes(rng: Rng, n: int) -> F64:
    """Minutes since 2025-10-09 00:00 inside [Oct 10, Oct 12): a crash-hour mixture."""
    day = 1440.0
    peak = np.clip(rng.normal(day + 1280.0, 6.0, n), day + 1256.0, day + 1304.0)  # 21:20 ± 24 min
    hour = rng.uniform(day + 1260.0, day + 1320.0, n)  # 21:00-22:00
    wide = rng.uniform(day + 1245.0, day + 1380.0, n)  # 20:45-23:00
    tail = day + 1320.0 + rng.exponential(360.0, n) % 1560.0  # 22:00 Oct 10 .. Oct 12
    slide = rng.uniform(day + 780.0, day + 1245.0, n)  # 13:00-20:45, the pre-crash slide
    which = _pick(rng, (0.50, 0.20, 0.10, 0.08, 0.12), n)
    return np.choose(which, [peak, hour, wide, tail, slide])


def _fill_pnl(rng: Rng, loss: F64, who: Idx, adl: Mask) -> tuple[F64, F64]:
    """USD PnL and clearance fee per fill; a user's liquidation losses sum to ``loss``."""
    n = len(who)
    gain = ~adl & (rng.random(n) < 0.03)  # a hedged leg closed at a profit
    losing = ~adl & ~gain
    weight = np.where(losing, rng.exponential(1.0, n), 0.0)
    total = np.bincount(who, weight, minlength=len(loss))
    per_fill = loss[who] / np.bincount(who, minlength=len(loss))[who]
    share = np.divide(weight, total[who], out=np.zeros(n), where=total[who] > 0)
    adl_pnl = np.where(rng.random(n) < 0.8, 1.0, -1.0) * per_fill * rng.uniform(0.1, 1.0, n)
    pnl = np.select(
        [losing, gain], [-share * loss[who], per_fill * rng.uniform(0.001, 0.02, n)], adl_pnl
    )
    fee = np.where(adl, 0.0, np.abs(pnl) * rng.uniform(0.005, 0.015, n))
    return pnl, fee


def _prior(rng: Rng, crowd: _Crowd) -> pa.Table:
    size = len(crowd.liq)
    paid = np.flatnonzero(rng.random(size) < SHARE_PRIOR)
    program = (rng.random(len(paid)) >= 0.85).astype(np.int8)
    both = rng.random(len(paid)) < 0.05
    who = np.concatenate([paid, paid[both]])
    program = np.concatenate([program, 1 - program[both]])
    order = np.lexsort((program, who))
    who, program = who[order], program[order]
    share = np.where(
        program == 0, rng.uniform(0.05, 1.0, len(who)), rng.uniform(0.02, 0.3, len(who))
    )
    amount = np.maximum(np.round(share * crowd.loss[who], 2), 0.01)
    paid_at = _us(2025, 10, 11) + rng.integers(30 * 60, 23 * 3600 + 30 * 60, len(who)) * 1_000_000
    return _table(
        "prior_compensation",
        [crowd.ids[crowd.liq[who]], _labels(_PROGRAMS, program), amount, paid_at],
    )


# ---------------------------------------------------------------------------------
# The de-peg: collateral liquidations and the reference prices

_COLLATERAL = ("USDE", "BNSOL", "WBETH")
_COLLATERAL_LABELS = (*_COLLATERAL, *(a.lower() for a in _COLLATERAL))
_COLLATERAL_CODE = np.array([_A[a] for a in _COLLATERAL])
_COLLATERAL_P = (0.70, 0.17, 0.13)
# Redemption: units of the underlying per unit, the staking ratios the price paths use.
_REDEMPTION = (("USDT", "1"), ("SOL", "1.0685"), ("ETH", "1.0738"))
_QUANTITY = np.array([[1200.0, 1.0], [6.0, 1.0], [0.6, 1.0]])  # median units, log sigma
_TROUGH = np.array(
    [[_minute("10 21:46"), 6.0], [_minute("10 21:43"), 4.0], [_minute("10 21:44"), 4.0]]
)
_TYPE_SCALE = np.array([1.0, 3.0, 10.0])  # quantity by user type: retail, vip, institutional
_EVENTS_P = (0.65, 0.22, 0.09, 0.04)  # 1-4 events per user
_COLLATERAL_PRODUCT_P = (0.25, 0.04, 0.16, 0.07, 0.23, 0.25)  # contract.COLLATERAL_PRODUCTS
REFERENCE_MINUTE = 2 * 1440  # 2025-10-11 00:00 UTC, depeg-2025-10's collateral.reference_at
_DEPEG_US = (  # [21:36, 22:17) Oct 10, depeg-2025-10's window
    GRID_START_US + _minute("10 21:36") * MINUTE_US,
    GRID_START_US + _minute("10 22:17") * MINUTE_US,
)


def _references(at: F64) -> tuple[pa.Table, F64]:
    """The ``reference_prices`` rows, and per asset a price above any adjusted reference.

    Exact decimals of the path prices (at most 6 places, see :func:`_path`); no weight
    from 0 to 1 and no floor up to $1 gives a reference above ``max(m, r·u, 1)``.
    """
    market = [Decimal(f"{at[_A[a]]:.6f}") for a in _COLLATERAL]
    rate = [Decimal(r) for _, r in _REDEMPTION]
    underlying = [Decimal(f"{at[_A[u]]:.6f}") for u, _ in _REDEMPTION]
    table = _table(
        "reference_prices",
        [
            pa.array(_COLLATERAL, pa.string()),
            pa.array([GRID_START_US + REFERENCE_MINUTE * MINUTE_US] * len(_COLLATERAL), _TS),
            pa.array(market, _DECIMAL),
            pa.array(rate, _DECIMAL),
            pa.array(underlying, _DECIMAL),
        ],
    )
    above = [max(m, r * u, Decimal(1)) for m, r, u in zip(market, rate, underlying, strict=True)]
    return table, np.array([float(v) for v in above])


def _collateral(
    rng: Rng, crowd: _Crowd, prior: pa.Table, market: _Market, events_start: int
) -> tuple[pa.Table, int]:
    """USDE, BNSOL and WBETH collateral liquidated at the path price of the event's minute.

    Each holder has 1-4 events sorted by time; every ``depeg-2025-10`` prior payee is a
    holder with one event (``keep``) at the trough, at the path price, so it is paid.
    """
    who, paid = _collateral_holders(rng, crowd, prior)
    owner = np.repeat(np.arange(len(who)), 1 + _pick(rng, _EVENTS_P, len(who)))
    n = len(owner)
    lead = np.ones(n, dtype=bool)
    lead[1:] = owner[1:] != owner[:-1]
    keep = lead & paid[owner]
    main = _pick(rng, _COLLATERAL_P, len(who))
    asset = np.where(lead | (rng.random(n) < 0.75), main[owner], _pick(rng, _COLLATERAL_P, n))
    ts = _collateral_times(rng, asset, keep)
    above = ~keep & ((rng.random(n) < SHARE_ABOVE[0]) | _all_above(rng, paid)[owner])
    path = market.asof[_COLLATERAL_CODE[asset], (ts - GRID_START_US) // MINUTE_US]
    price = np.where(above, market.above[asset] * rng.uniform(1.001, 1.02, n), path)
    median, sigma = _QUANTITY[asset, 0], _QUANTITY[asset, 1]
    scale = _TYPE_SCALE[crowd.utype[who[owner]]]
    quantity = np.maximum(rng.lognormal(np.log(median), sigma) * scale, 1e-4)
    product = _pick(rng, _COLLATERAL_PRODUCT_P, n)
    subs = crowd.n_sub[who[owner]]
    on_sub = (subs > 0) & (rng.random(n) < 0.3)
    suffix = np.where(on_sub, 1 + np.floor(rng.random(n) * subs), 0).astype(np.int64)
    order = np.lexsort((ts, owner))
    asset, ts = asset[order], ts[order]
    asset[_lowercase(rng, ts)] += len(_COLLATERAL)
    table = _table(
        "collateral_liquidations",
        [
            events_start + 1 + np.arange(n, dtype=np.int64),
            ACCOUNT_BASE + crowd.ids[who[owner[order]]] * 10 + suffix[order],
            _labels(contract.COLLATERAL_PRODUCTS, product[order]),
            _labels(_COLLATERAL_LABELS, asset),
            _exact(quantity[order], 8),
            _exact(price[order], 6),
            pa.array(ts, type=_TS),
        ],
    )
    return table, len(who)


def _collateral_holders(rng: Rng, crowd: _Crowd, prior: pa.Table) -> tuple[Idx, Mask]:
    """Chunk-local indices of the holders, and which of them the prior table says were paid."""
    chosen = rng.random(len(crowd.ids)) < SHARE_COLLATERAL[1]
    chosen[crowd.liq] = rng.random(len(crowd.liq)) < SHARE_COLLATERAL[0]
    depeg = pc.equal(prior["program_id"], _PROGRAMS[0])
    paid = np.asarray(prior["user_id"].filter(depeg).to_numpy(), dtype=np.int64) - crowd.ids[0]
    chosen[paid] = True
    who = np.flatnonzero(chosen)
    return who, np.isin(who, paid)


def _collateral_times(rng: Rng, asset: Idx, keep: Mask) -> I64:
    """Microseconds UTC: most at the asset's trough, some anywhere in the window, ~7%
    outside it (21:00-21:36 or 22:17-23:30), and a few on its four edges (not ``keep``)."""
    n = len(asset)
    start, end = _DEPEG_US
    centre = (_TROUGH[asset, 0] - _minute("10 21:36")) * MINUTE_US
    deep = rng.normal(centre, _TROUGH[asset, 1] * MINUTE_US)
    deep = np.where((deep >= 0) & (deep < 29 * MINUTE_US), deep, rng.uniform(0, 29 * MINUTE_US, n))
    anywhere = rng.integers(start, end, n)
    inside = np.where(keep | (rng.random(n) < 0.75), start + deep.astype(np.int64), anywhere)
    before = rng.integers(start - 36 * MINUTE_US, start, n)
    after = rng.integers(end, end + 73 * MINUTE_US, n)
    outside = ~keep & (rng.random(n) < SHARE_COLLATERAL_OUTSIDE)
    ts = np.where(outside, np.where(rng.random(n) < 0.5, before, after), inside)
    edges = np.array([start, end - 1, end, start - 1])  # in, in, out, out
    free = np.flatnonzero(~keep)
    at_edge = rng.choice(free, size=min(len(free), max(len(edges), n // 400)), replace=False)
    ts[at_edge] = edges[np.arange(len(at_edge)) % len(edges)]
    times: I64 = ts.astype(np.int64)
    return times


def _all_above(rng: Rng, paid: Mask) -> Mask:
    """A few holders, never prior payees, whose every event fills above the reference."""
    pool = np.flatnonzero(~paid)
    size = min(len(pool), max(2, round(SHARE_ABOVE[1] * len(paid))))
    chosen = np.zeros(len(paid), dtype=bool)
    chosen[rng.choice(pool, size=size, replace=False)] = True
    return chosen


def _lowercase(rng: Rng, ts: I64) -> Idx:
    """Two events strictly inside the window whose asset is written in lower case."""
    start, end = _DEPEG_US
    inside = np.flatnonzero((ts > start) & (ts < end - 1))
    picked: Idx = rng.choice(inside, size=min(2, len(inside)), replace=False)
    return picked


def _exact(values: F64, places: int) -> pa.Array:
    """``values`` rounded to ``places`` decimals (half to even), as exact decimal(38, 12)."""
    units = pa.array(np.round(values * 10.0**places).astype(np.int64)).cast(pa.decimal128(19, 0))
    step = pa.scalar(Decimal(1).scaleb(-places), pa.decimal128(places + 1, places))
    exact: pa.Array = pc.multiply(units, step).cast(_DECIMAL)
    return exact
