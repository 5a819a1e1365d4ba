"""Virtual EMA: sensor trajectories read off VocalTractLab's 3-D surface meshes.

Convention
----------
Sensors are fixed vertices of VocalTractLab's surface meshes
(``get_surface_vertices(tract_state, surface)``), all within 1.5 mm of the midsagittal plane,
so each behaves like a sensor glued to a flesh point:

* ``TR`` (tongue rear/dorsum): tongue surface (16), rib 20, midline point 5.
* ``TB`` (tongue blade): tongue surface (16), rib 25, midline point 5.
* ``TT`` (tongue tip): tongue surface (16), rib 30, midline point 5 (VocalTractLab's own
  predefined TT EMA vertex, 335 = 30 * 11 + 5), about 7 mm behind the apex.
  The three tongue sensors are about 17 mm apart along the tongue, like the real sensors.
* ``UL`` / ``LL``: upper-lip (4) / lower-lip (5) surface, last (midline) rib, outermost
  point 9 (VocalTractLab's predefined lip EMA vertex 89 = 8 * 10 + 9).
* ``JAW`` (lower incisor): lower-teeth surface (1), midline rib 24, incisal-edge point 2.

Coordinates are in millimetres relative to the upper incisor edge (upper-teeth surface 0,
rib 24, point 2, which never moves). ``_X`` is posterior->anterior (positive = towards the
lips) and ``_Y`` is **vertical** (positive = up). In the real ``ema_labels_F02.csv`` the ``_Y``
column is the *lateral* axis; the synthetic sample uses the vertical axis because the
VocalTractLab tract is symmetric and has no lateral movement. Values are rounded to 2 decimals.

Tract states are linearly interpolated (per parameter) to the EMA frame times and the mesh is
evaluated there. EMA row ``t`` is the state at time ``t * 20 ms``; each recording has exactly
``floor((N16k - 400) / 320) + 1`` rows, the number of Wav2Vec2 frames of its 16 kHz audio
(``N16k`` samples), with ``TIMESTEP`` 0-based per file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._package import EMA_COLUMNS, EMA_SENSORS, FRAME_RATE_HZ
from .vtl import neutral_tract_state, state_rate, surfaces

EMA_STEP_S = 1.0 / FRAME_RATE_HZ  # 20 ms, one EMA row per Wav2Vec2 frame
# (surface index, rib, point) of each virtual sensor; see the module docstring.
SENSOR_VERTICES: dict[str, tuple[int, int, int]] = {
    "TR": (16, 20, 5),
    "TB": (16, 25, 5),
    "TT": (16, 30, 5),
    "UL": (4, 8, 9),
    "LL": (5, 8, 9),
    "JAW": (1, 24, 2),
}
SENSOR_MEANING = {
    "TR": "tongue rear/dorsum",
    "TB": "tongue blade",
    "TT": "tongue tip",
    "UL": "upper lip",
    "LL": "lower lip",
    "JAW": "lower incisor",
}
ORIGIN_VERTEX = (0, 24, 2)  # upper incisor edge
MIDLINE_TOLERANCE_CM = 0.15  # sensors must stay within 1.5 mm of the midsagittal plane


def states_at(states: np.ndarray, times_s: np.ndarray, rate: float) -> np.ndarray:
    """Linearly interpolate tract states to given times.

    Parameters
    ----------
    states : numpy.ndarray
        ``(n_states, n_params)``; state ``k`` is at ``k / rate`` seconds.
    times_s : numpy.ndarray
        Query times in seconds.
    rate : float
        States per second (about 400.9).

    Returns
    -------
    numpy.ndarray
        ``(len(times_s), n_params)``.
    """
    grid = np.arange(states.shape[0]) / rate
    return np.column_stack([np.interp(times_s, grid, states[:, j]) for j in range(states.shape[1])])


def surface_points(tract_state: np.ndarray) -> dict[int, np.ndarray]:
    """Mesh vertices (cm) of every surface used by a sensor or the origin.

    Parameters
    ----------
    tract_state : numpy.ndarray
        The 19 tract parameters.

    Returns
    -------
    dict
        Surface index -> ``(ribs, points, 3)`` array of ``(x, y, z)``.
    """
    used = {where[0] for where in SENSOR_VERTICES.values()} | {ORIGIN_VERTEX[0]}
    return surfaces(tract_state, sorted(used))


def incisor_origin() -> np.ndarray:
    """Upper incisor edge of the loaded vocal tract (the EMA origin).

    Returns
    -------
    numpy.ndarray
        ``(x, y, z)`` in cm; the upper teeth never move, so any tract state gives the same point.
    """
    surface, rib, point = ORIGIN_VERTEX
    return surface_points(neutral_tract_state())[surface][rib, point]


def sensor_frame(tract_state: np.ndarray, origin: np.ndarray) -> list[float]:
    """Virtual EMA sensor coordinates (mm) for one tract state.

    Parameters
    ----------
    tract_state : numpy.ndarray
        The 19 tract parameters.
    origin : numpy.ndarray
        Upper incisor edge ``(x, y, z)`` in cm.

    Returns
    -------
    list of float
        ``[TR_X, TR_Y, TB_X, ..., JAW_Y]`` in millimetres (X anterior, Y vertical).

    Raises
    ------
    RuntimeError
        If a sensor vertex is more than :data:`MIDLINE_TOLERANCE_CM` off the midline.
    """
    points = surface_points(tract_state)
    values = []
    for name in EMA_SENSORS:
        surface, rib, point = SENSOR_VERTICES[name]
        xyz = points[surface][rib, point]
        if abs(xyz[2]) > MIDLINE_TOLERANCE_CM:
            raise RuntimeError(f"sensor {name} is off the midsagittal plane (z = {xyz[2]} cm)")
        values.extend(((xyz[:2] - origin[:2]) * 10.0).tolist())
    return values


def ema_table(
    filename: str, sentence: str, states: np.ndarray, n_frames: int, origin: np.ndarray
) -> pd.DataFrame:
    """EMA rows of one recording on the 20 ms grid.

    Parameters
    ----------
    filename, sentence : str
        Values of the ``FILENAME`` and ``SENTENCE`` columns.
    states : numpy.ndarray
        Tract states of the recording.
    n_frames : int
        Number of rows (row ``t`` is at ``t * 20 ms``).
    origin : numpy.ndarray
        Upper incisor edge in cm.

    Returns
    -------
    pandas.DataFrame
        Columns ``EMA_TABLE_COLUMNS`` of the package, coordinates rounded to 2 decimals.
    """
    frames = states_at(states, np.arange(n_frames) * EMA_STEP_S, state_rate())
    coords = np.round(np.array([sensor_frame(s, origin) for s in frames]), 2)
    table = pd.DataFrame(coords, columns=list(EMA_COLUMNS))
    table.insert(0, "TIMESTEP", np.arange(n_frames))
    table.insert(0, "SENTENCE", sentence)
    table.insert(0, "FILENAME", filename)
    return table


def ema_convention() -> dict:
    """Manifest description of the virtual EMA.

    Returns
    -------
    dict
        Units, axes, origin, frame grid and sensor vertices.
    """
    return {
        "units": "mm",
        "x_axis": "posterior -> anterior (positive towards the lips)",
        "y_axis": "VERTICAL (positive up); in the real ema_labels_F02.csv _Y is lateral",
        "origin": "upper incisor edge (VTL upper-teeth surface 0, rib 24, point 2)",
        "frame_rate_hz": 50,
        "row_time": "row t is the tract state at t * 20 ms (linear interpolation of states)",
        "rows_per_file": "floor((N16k - 400) / 320) + 1 (= number of Wav2Vec2 frames)",
        "decimals": 2,
        "sensors": {
            name: {"vtl_surface": s, "rib": r, "point": p}
            for name, (s, r, p) in SENSOR_VERTICES.items()
        },
        "sensor_meaning": dict(SENSOR_MEANING),
    }


def sanity_report(ema: pd.DataFrame, phones: pd.DataFrame) -> None:
    """Print per-sensor movement and tongue-tip vs jaw movement during /t d n s/.

    Parameters
    ----------
    ema : pandas.DataFrame
        EMA table of one speaker.
    phones : pandas.DataFrame
        Phone table (all speakers).
    """
    stds = ema[list(EMA_COLUMNS)].std()
    print("  per-column std (mm): " + ", ".join(f"{c} {v:.2f}" for c, v in stds.items()))
    tt, jaw = [], []
    for filename, frames in ema.groupby("FILENAME", sort=False):
        labels = phones[phones["FILENAME"] == filename]
        alveolar = labels[labels["PHONE"].isin(["t", "d", "n", "s"])]
        times = frames["TIMESTEP"].to_numpy() * EMA_STEP_S
        mask = np.zeros(len(times), dtype=bool)
        for start, end in zip(alveolar["START_S"], alveolar["END_S"], strict=True):
            mask |= (times >= start) & (times < end)
        tt.append(np.mean(frames["TT_Y"].to_numpy()[mask] - frames["TT_Y"].median()))
        jaw.append(np.mean(frames["JAW_Y"].to_numpy()[mask] - frames["JAW_Y"].median()))
    print(
        f"  mean rise above median during /t d n s/: TT_Y {np.mean(tt):.2f} mm, "
        f"JAW_Y {np.mean(jaw):.2f} mm"
    )
