"""The Python API: translate photos from a notebook or another program (docs/python.md).

    import ugatit
    model = ugatit.load()                        # what `--phase test --input` restores
    anime = model.translate('selfie.jpg')        # -> PIL.Image

It is the photo phase (ugatit/infer/photo.py) without the files: the same reading, face
alignment, contrast, model, enlargement and paste-back functions, with the same defaults, so a
result equals the file `python main.py --phase test --input` writes with the same options. The
options are main.py's flags given as keyword arguments, read by main.py's own parser and checks.
TensorFlow is imported by load(), not by `import ugatit`; nothing is printed unless
verbose=True; every error is a ugatit.UserError with the project's message.
"""

import contextlib
import dataclasses
import io
import os
import threading

from ugatit.errors import UserError

# The options of translate(): the --input mode's flags (PhotoConfig) that apply to one photo.
PHOTO_OPTIONS = ('direction', 'align_face', 'landmarks', 'face_padding', 'no_face', 'paste_back',
                 'contrast', 'brightness', 'upscale', 'upscaler', 'upscale_noise')
# Flags that load() does not take: the model is its first argument; the output is returned,
# not written or shown; one face per photo (the largest).
NOT_LOAD_FLAGS = ('phase', 'input', 'dataset', 'checkpoint', 'result_dir', 'show', 'faces', 'verbose',
                  'help_flags')
# What stands for --input in the flags parsed (the images come as arguments instead).
PYTHON_INPUT = 'python'


def load(model=None, *, verbose=False, **flags):
    """Restore a model for translating photos; returns a Model (close it, or use `with`).

    model: None: the checkpoint `python main.py --phase test --input ...` restores with the same
        flags (checkpoint/<model_dir>, else the selfie2anime model this project ships);
        a checkpoint folder or prefix (str or os.PathLike); or a dataset name such as
        'selfie2anime' (the released checkpoint once downloaded) or 'demo' (after make demo):
        its checkpoint in checkpoint_dir, with no fallback.
    verbose: print what main.py prints (the device, the restored checkpoint) and TensorFlow's
        own log lines; else nothing is printed.
    flags: main.py's flags by name, e.g. batch_size=8, checkpoint_dir='ckpt', light=True, and the
        defaults of translate()'s options (align_face=True, upscale=4, ...).
    Raises UserError (a bad flag, no checkpoint, a checkpoint that does not fit the flags)."""
    not_taken = sorted(set(flags) & set(NOT_LOAD_FLAGS))
    if not_taken:
        raise UserError('load() takes no %s: give the model (a checkpoint folder or prefix, or a dataset '
                        'name) as its first argument; translate() returns the images' % ', '.join(not_taken))
    return Model(model, flags, verbose)


class Model:
    """A restored generator, ready to translate photos; safe to use from several threads.

    Attributes: config (the ugatit.config.Config of the flags), checkpoint (the restored prefix),
    step (its training step), img_size (the model's input side S in pixels)."""

    def __init__(self, model, flags, verbose=False):
        from ugatit.console import quiet_console
        quiet_console(verbose)  # before TensorFlow is first imported
        self.verbose = verbose
        self._argv = ['--phase', 'test', '--input', PYTHON_INPUT] + flag_arguments(flags) + model_arguments(model)
        self._lock = threading.Lock()          # the translators and aligners
        self._aligner_lock = threading.Lock()  # dlib's detector: one thread at a time (as the server)
        self._upscale_lock = threading.Lock()  # an upscaler's network: one thread at a time
        self._translators, self._aligners, self._closed = {}, {}, False
        self._upscalers_used = set()  # (upscaler, noise) flags whose first enlargement is done
        with self._errors(), self._console():
            self.config = resolve_config(self._argv, model is None)
            translator = self._translator(self.config.photo.direction)
        self.checkpoint, self.step = translator.checkpoint, translator.step

    @property
    def img_size(self):
        return self.config.model.img_size

    def __repr__(self):
        return '<ugatit.Model %s (step %d, %d px)%s>' % (self.checkpoint, self.step, self.img_size,
                                                          ' closed' if self._closed else '')

    def translate(self, images, *, attention=False, **options):
        """Translate one image or a list of images, as `--phase test --input` does.

        images: a file path (str or os.PathLike), a PIL.Image, an array uint8 [H, W, 3] (RGB),
            [H, W] or [H, W, 1] (grey) or [H, W, 4] (RGBA, the alpha dropped as the photo phase
            does; uint16 and float in [0, 1] are scaled), at least 32 pixels a side; or a list
            (or tuple) of them, translated in batches of batch_size.
        attention: also return the CAM attention heatmap, RGB [S, S] (attention/<name>.png).
        options: direction ('a2b', 'b2a'), align_face, paste_back, upscale (1, 2, 4, 'auto'; None:
            to at least 256 px), upscaler, upscale_noise, contrast, brightness, no_face ('error',
            'skip': None is returned, 'center'), face_padding, landmarks: the flags of the --input
            mode; load()'s flags by default.
        Returns a PIL.Image (RGB): the translation [S*f, S*f] (<name>.png; f: the upscale
        factor), with paste_back the whole photo with the face put back (pasted/<name>.png);
        with attention, a tuple (image, attention image); for a list, a list of these.
        Raises UserError naming the image that could not be translated."""
        single = not isinstance(images, (list, tuple))
        with self._errors():
            config = self._options_config(options)
            results = self._translate_all([images] if single else list(images), config, attention, single)
        return results[0] if single else results

    def close(self):
        """Close the TensorFlow sessions (the memory of the weights is freed); translate() then
        raises UserError. Closing twice is harmless."""
        with self._lock:
            self._closed = True
            translators, self._translators = list(self._translators.values()), {}
        for translator in translators:
            translator.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------------------------------

    def _options_config(self, options):
        """self.config with the photo options of one translate() call, checked by main.py's parser."""
        unknown = sorted(set(options) - set(PHOTO_OPTIONS))
        if unknown:
            from ugatit.config import FLAG_DEFAULTS
            load_flags = [name for name in unknown if name in FLAG_DEFAULTS and name not in NOT_LOAD_FLAGS]
            hint = ('; %s %s fixed when the model is built: give %s to ugatit.load(), e.g. ugatit.load(model, %s=...)'
                    % (', '.join(load_flags), 'is' if len(load_flags) == 1 else 'are',
                       'it' if len(load_flags) == 1 else 'them', load_flags[0]) if load_flags else '')
            raise UserError('translate() takes no option %s; its options are %s%s'
                            % (', '.join(unknown), ', '.join(PHOTO_OPTIONS + ('attention',)), hint))
        if not options:
            return self.config
        from ugatit.cli import parse_config
        photo = parse_config(self._argv + flag_arguments(options), exit_on_error=False).photo
        return dataclasses.replace(self.config, photo=photo)

    def _translate_all(self, images, config, attention, single):
        """Read, cut and translate `images` a batch of chips at a time; returns their results."""
        from ugatit.infer.photo import cut_chips
        aligner = self._aligner(config)
        results, pending = [None] * len(images), []
        for k, image in enumerate(images):
            rgb, name = read_input(image, 'the image' if single else 'image %d of the list' % k)
            with self._aligner_lock:
                items, problem = cut_chips(name, rgb, lambda stem: stem, config, aligner, self._log)
            if problem and problem[1]:
                raise UserError(problem[0])
            pending += [(k, item) for item in items]
            if len(pending) >= config.runtime.batch_size:
                self._finish(pending, config, attention, results)
                pending = []
        if pending:
            self._finish(pending, config, attention, results)
        return results

    def _finish(self, pending, config, attention, results):
        """Translate the (index, photo.Item) of `pending` in one model call; fill their results."""
        from PIL import Image
        from ugatit.infer.photo import paste_faces, translate_items
        items = [item for _, item in pending]
        outputs = translate_items(items, self._translator(config.photo.direction), config)
        for (k, item), (translated, attention_rgb) in zip(pending, outputs):
            if config.photo.upscale != 1:
                translated = self._enlarge(item, translated, config)
            if config.photo.paste_back:
                translated = paste_faces(item.image, [(translated, item.transform)], config.model.img_size)
            image = Image.fromarray(translated)
            results[k] = (image, Image.fromarray(attention_rgb)) if attention else image

    def _enlarge(self, item, translated, config):
        """photo.enlarge_translation, one thread at a time; the first time for an upscaler, in
        self._console(): it may print that the network is replaced on this CPU."""
        from ugatit.infer.photo import enlarge_translation
        key = (config.photo.upscaler, config.photo.upscale_noise)
        with self._upscale_lock:
            with contextlib.nullcontext() if key in self._upscalers_used else self._console():
                translated = enlarge_translation(item, translated, config)
            self._upscalers_used.add(key)
        return translated

    def _translator(self, direction):
        """The Translator of one direction, restored on first use."""
        with self._lock:
            if self._closed:
                raise UserError('this model is closed: load() another one')
            if direction not in self._translators:
                from ugatit.infer.translator import Translator
                self._translators[direction] = Translator(self.config, (direction,))
            return self._translators[direction]

    def _aligner(self, config):
        """The face aligner of the photo options (photo.face_aligner; None without align_face),
        made once per landmarks file."""
        landmarks = config.photo.landmarks
        if not config.photo.align_face:
            return None
        with self._lock:
            if landmarks not in self._aligners:
                from ugatit.infer.photo import face_aligner
                self._aligners[landmarks] = face_aligner(config)
            return self._aligners[landmarks]

    def _log(self, line):
        if self.verbose:
            print(line)

    def _console(self):
        """Where what the test phase prints goes: the console with verbose, else nowhere. Not
        around work that threads do at once: sys.stdout is one for the whole process."""
        return contextlib.nullcontext() if self.verbose else contextlib.redirect_stdout(io.StringIO())

    @staticmethod
    @contextlib.contextmanager
    def _errors():
        """Errors as UserError with the project's message, without the chain of exceptions
        (TensorFlow's among them) that led to it."""
        from ugatit.console import tensorflow_error_message
        try:
            yield
        except UserError as exc:
            raise UserError(str(exc)) from None
        except Exception as exc:
            message = tensorflow_error_message(exc)
            if message is None:
                raise
            raise UserError(message) from None


def flag_arguments(flags):
    """main.py's arguments of flags given by name: {'align_face': True, 'upscale': 4} ->
    ['--align_face=true', '--upscale=4']; None leaves a flag at its default."""
    argv = []
    for name, value in flags.items():
        if value is not None:
            text = ('true' if value else 'false') if isinstance(value, bool) else str(value)
            argv.append('--%s=%s' % (name, text))
    return argv


def model_arguments(model):
    """main.py's arguments naming the model of load(model): [], --checkpoint PATH or --dataset NAME."""
    if model is None:
        return []
    if not isinstance(model, (str, os.PathLike)):
        raise UserError('load() takes a checkpoint folder or prefix, or a dataset name such as selfie2anime '
                        '(got a %s)' % type(model).__name__)
    path = os.fspath(model)
    if os.path.exists(path) or os.path.exists(path + '.index'):
        return ['--checkpoint', os.path.abspath(path)]
    if path and os.sep not in path and '/' not in path and path not in ('.', '..'):
        return ['--dataset', path]
    raise UserError('%s: no such checkpoint folder or prefix' % path)


def resolve_config(argv, shipped_fallback):
    """The Config of main.py's arguments as the test phase sets it up (ugatit/cli/phases.py):
    the device (GPU memory growth), the shipped model when shipped_fallback and the user has no
    checkpoint, the flags saved beside the checkpoint; the checkpoint made an absolute prefix."""
    from ugatit.cli import parse_config, phases
    from ugatit.model.checkpoint import find_checkpoint, no_checkpoint_message
    config = parse_config(argv, exit_on_error=False)
    config = phases.check_runtime_options(config)
    if shipped_fallback:
        config = phases.with_shipped_model(config)
    config = phases.with_saved_flags(config)
    prefix, tried = find_checkpoint(config)
    if prefix is None:
        raise UserError(no_checkpoint_message(config, tried))
    return dataclasses.replace(config, paths=dataclasses.replace(config.paths, checkpoint=os.path.abspath(prefix)))


def read_input(image, name):
    """(RGB uint8 [H, W, 3], name for messages) of a path, a PIL.Image or an array (see
    Model.translate); UserError for what cannot be translated."""
    from ugatit.infer.photo import MIN_INPUT_SIDE
    if isinstance(image, (str, os.PathLike)):
        from utils import ImageError, read_image_rgb
        path = os.fspath(image)
        try:
            return read_image_rgb(path, min_size=MIN_INPUT_SIDE), path
        except ImageError as exc:
            raise UserError(str(exc)) from None
    rgb = pil_to_rgb(image, name) if _is_pil(image) else array_to_rgb(image, name)
    if min(rgb.shape[:2]) < MIN_INPUT_SIDE:
        raise UserError('%s: image too small (%dx%d pixels; at least %d needed)'
                        % (name, rgb.shape[1], rgb.shape[0], MIN_INPUT_SIDE))
    return rgb, name


def _is_pil(image):
    return type(image).__module__.startswith('PIL.')


def pil_to_rgb(image, name):
    """A PIL.Image -> RGB uint8 [H, W, 3], turned upright as its EXIF orientation says (as files
    are); 16-bit and float images scaled as array_to_rgb does."""
    import numpy as np
    from PIL import ImageOps
    image = ImageOps.exif_transpose(image)
    if image.mode in ('I', 'I;16', 'I;16B', 'I;16L', 'I;16N'):
        return array_to_rgb(np.clip(np.asarray(image), 0, 65535).astype(np.uint16), name)
    if image.mode == 'F':
        return array_to_rgb(np.asarray(image), name)
    return np.asarray(image.convert('RGB'))


def array_to_rgb(array, name):
    """An image array -> RGB uint8 [H, W, 3]: uint8 as it is, uint16 / 257, float in [0, 1]
    * 255 (rounded, clipped); [H, W] and [H, W, 1] grey, [H, W, 3] RGB, [H, W, 4] RGBA."""
    import numpy as np
    a = array if isinstance(array, np.ndarray) else None
    if a is None or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        what = 'an object of type %s' % type(array).__name__ if a is None else 'an array of shape %s' % (a.shape,)
        raise UserError('%s: cannot translate %s: give a file path, a PIL image or an image array '
                        '[H, W], [H, W, 3] (RGB) or [H, W, 4] (RGBA)' % (name, what))
    if a.dtype == np.uint16:
        a = (a / 257.0 + 0.5).astype(np.uint8)
    elif a.dtype in (np.float16, np.float32, np.float64):
        a = np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise UserError('%s: unsupported pixel type %s (give uint8, uint16, or float in [0, 1])' % (name, a.dtype))
    if a.ndim == 2:
        a = a[:, :, None]
    return np.ascontiguousarray(np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a[:, :, :3])
