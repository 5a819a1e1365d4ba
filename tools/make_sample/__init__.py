"""Generate the committed offline sample with VocalTractLab (maintainers only).

Run from the repository root, in a separate environment (``make sample`` creates it)::

    python -m tools.make_sample [--out-dir DIR] [--keep-work]

It writes ``tutorial_utils/data/sample/``: synthetic read speech of two synthetic adult
speakers, ``SYN-F`` (higher F0, faster) and ``SYN-M`` (lower F0, slower), plus virtual EMA
trajectories and phone labels taken from the same articulatory simulation. The files mirror
the formats of the tutorial's real data closely enough for every chapter to run offline.
Everything written here is **synthetic: VocalTractLab speech**; no recording of a real person
is involved. It needs ``vocaltractlab-cython`` (GPL-3, the optional ``sample`` extra), which
the tutorial package itself never imports.

Modules
-------
``corpus``
    The speakers, the sentences (text and hand-made ARPAbet) and the recording names.
``phones``
    ARPAbet -> VocalTractLab SAMPA symbols, segment durations, phoneme files, phone labels.
``score``
    Reading, checking and F0-shifting gestural scores (``xml.etree``).
``vtl``
    Driving VocalTractLab: phoneme file -> gestural score -> motor states and audio.
``ema``
    Virtual EMA sensors on VocalTractLab's surface meshes.
``write``
    FLAC/CSV encoding, the manifest and the atomic writes of the committed files.
``_package``
    The only module that imports from ``tutorial_utils``.

Pipeline per recording
----------------------
1. English phones (ARPAbet) are mapped onto VocalTractLab's German SAMPA inventory
   (:data:`tools.make_sample.phones.ENGLISH_TO_VTL`); durations come from a small table,
   scaled by the speaker's speaking rate and a seeded per-segment jitter, with phrase-final
   lengthening.
2. ``phoneme_file_to_gesture_file`` builds the gestural score. Because VocalTractLab silently
   ignores unknown symbols (or turns them into schwa), the score is read back and checked
   against the gestures each symbol produces in isolation
   (:func:`tools.make_sample.score.verify_score`).
3. The F0 tier of the score is shifted by the speaker's offset in semitones.
4. ``gesture_file_to_motor_file`` gives the tract states (one per 110 samples at 44.1 kHz,
   about 400.9 states/s) and ``gesture_file_to_audio`` the 44.1 kHz audio.
5. Audio is resampled to 16 kHz (``scipy.signal.resample_poly(x, 160, 441)``),
   peak-normalised to 0.9 (gain recorded in the manifest) and stored as 16-bit FLAC.

Outputs (all written atomically: temporary file, then ``os.replace``)
--------------------------------------------------------------------
``<FILENAME stem>.flac`` (one per recording), ``recordings.csv``, ``phones.csv``,
``ema_labels_SYN-F.csv``, ``ema_labels_SYN-M.csv`` and ``manifest.json`` (settings, versions
and the sha256 of every other file). Audio files sit next to the tables (no subfolder) so the
package-data pattern ``data/sample/*`` ships them.
"""
