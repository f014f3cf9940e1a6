"""--phase download --what dataset: the authors' selfie2anime dataset, fetched, checked against
the release (image counts per folder, every image 256x256) and unpacked into
<dataset_dir>/selfie2anime/{trainA,trainB,testA,testB}/.

It uses the machinery of ugatit/assets/download.py: gdown for the Drive link of the official README
(or plain HTTP with resumption when a table entry has an archive_url, as the tests do), the
network timeouts, the disk check. A dataset folder that holds anything is never touched; the
images appear there only once all are unpacked and checked. See docs/dataset.md.
"""

import os
import shutil

from ugatit.assets import download
from ugatit.assets.archive import ArchiveError, extract_split_folders, write_errors_named
from ugatit.assets.download import GB, DownloadError
from ugatit.errors import UserError
from utils import ImageError, check_disk_space, image_header, printable

SPLITS = ('trainA', 'trainB', 'testA', 'testB')
# The selfie2anime dataset as the official README links it ("Dataset", added in e314508):
# https://drive.google.com/file/d/1xOWj1UVgp6NKMT3HbPhBbtq2A4EDkghF/view
SELFIE2ANIME_DRIVE_ID = '1xOWj1UVgp6NKMT3HbPhBbtq2A4EDkghF'
# archive_url: a plain HTTP copy of the zip, used instead of gdown when set (tests, mirrors).
# counts and img_size: what the released dataset holds (the paper: 3,400 training and 100 test
# images per domain, 256x256). *_bytes: what the disk check plans for; the zip's size is not
# published: about 0.42 GB of JPEG selfies and PNG anime faces (named .jpg), judged from a
# 500-image sample, rounded up.
DATASETS = {
    'selfie2anime': dict(
        gdrive_id=SELFIE2ANIME_DRIVE_ID, archive_url=None,
        counts={'trainA': 3400, 'trainB': 3400, 'testA': 100, 'testB': 100}, img_size=256,
        archive_bytes=0.6 * GB, unpacked_bytes=0.6 * GB),
}
MAX_LISTED = 10  # problems listed in the message; the rest are counted


def count_problems(counts, expected):
    """What differs between {split: number of images} and the expected counts (messages)."""
    return ['%s holds %d files, the release %d' % (split, counts.get(split, 0), want)
            for split, want in expected.items() if counts.get(split, 0) != want]


def image_problems(folder, splits, img_size):
    """Every file of folder/<split>/ whose header (read by content, whatever its name says) is
    not that of an img_size x img_size image (messages naming split/file)."""
    problems = []
    for split in splits:
        for name in sorted(os.listdir(os.path.join(folder, split))):
            path, shown = os.path.join(folder, split, name), printable('%s/%s' % (split, name))
            try:
                width, height, _ = image_header(path)
            except ImageError as exc:
                problems.append(str(exc).replace(printable(path), shown, 1))
                continue
            if (width, height) != (img_size, img_size):
                problems.append('%s is %dx%d, the release %dx%d' % (shown, width, height, img_size, img_size))
    return problems


def check_dataset(folder, counts, img_size, source):
    """Raise DownloadError listing what differs from the release: the number of files in each
    folder/<split>/ (`counts`: {split: number}) and every image's size (from its header).
    `source` names what the files come from in the message."""
    found = {split: len(os.listdir(os.path.join(folder, split))) for split in counts}
    problems = count_problems(found, counts) + image_problems(folder, counts, img_size)
    if problems:
        more = len(problems) - MAX_LISTED
        listed = problems[:MAX_LISTED] + (['... and %d more' % more] if more > 0 else [])
        raise DownloadError('%s is not the released dataset:\n  %s' % (source, '\n  '.join(listed)))


def _refuse_existing(folder):
    """UserError when `folder` exists and is not an empty folder: nothing of the user's is replaced."""
    if os.path.exists(folder) and not (os.path.isdir(folder) and not os.listdir(folder)):
        raise UserError('%s already exists and is not empty: nothing was downloaded or changed. Move it away, '
                        'or pass another --dataset_dir, to download it again.' % folder)


def install(archive, folder, entry):
    """Unpack the zip `archive` into `folder` (absent or empty) once it is checked: the images
    are unpacked into a hidden folder beside it, checked, then that folder is renamed. Raises
    DownloadError naming the archive, and UserError."""
    staging = os.path.join(os.path.dirname(folder) or '.', '.%s.unpacking' % os.path.basename(folder))
    shutil.rmtree(staging, ignore_errors=True)  # left by an interrupted run: this module's own
    try:
        with write_errors_named(archive, folder, '--dataset_dir'):
            counts = extract_split_folders(archive, staging, SPLITS)
        print(' [*] Checking the %d files of %s' % (sum(counts.values()), '/'.join(SPLITS)))
        check_dataset(staging, entry['counts'], entry['img_size'], archive)
        _refuse_existing(folder)  # again: the download took a while
        if os.path.isdir(folder):
            os.rmdir(folder)  # empty
        os.replace(staging, folder)
    except ArchiveError as exc:
        raise DownloadError(str(exc))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def manual_steps(name, config, error):
    """The error text when the download failed: why, and how to do it by hand."""
    zip_path = os.path.join(config.paths.dataset_dir, name + '.zip')
    return '\n'.join([
        'could not download the %s dataset: %s' % (name, error),
        'Download it by hand instead:',
        '  1. open %s (the official README links it) in a browser and download the zip;'
        % download.DRIVE_PAGE_URL.format(DATASETS[name]['gdrive_id']),
        '  2. save it anywhere, e.g. as %s;' % zip_path,
        '  3. run: %s --archive %s' % (command(name, config), zip_path),
        'It is checked and unpacked into %s%s (trainA, trainB, testA, testB).'
        % (os.path.join(config.paths.dataset_dir, name), os.sep)])


def _dataset_dir_flag(config):
    """' --dataset_dir D' for the commands printed, when it is not the default."""
    return '' if config.paths.dataset_dir == 'dataset' else ' --dataset_dir %s' % config.paths.dataset_dir


def command(name, config):
    """This command line (the flags that matter), for the messages."""
    return 'python main.py --phase download --what dataset --dataset %s%s' % (name, _dataset_dir_flag(config))


def fetch_archive(name, config):
    """The dataset zip in <dataset_dir>/.download/, downloaded (resumed when a partial file is
    there) unless a complete one is there already. Raises UserError with the manual steps."""
    entry = DATASETS[name]
    stash = os.path.join(config.paths.dataset_dir, '.download')
    archive = os.path.join(stash, name + '.zip')
    if os.path.isfile(archive):
        print(' [*] Using %s, downloaded before' % archive)
        return archive
    os.makedirs(stash, exist_ok=True)
    partial = sum(os.path.getsize(os.path.join(stash, n)) for n in os.listdir(stash))
    check_disk_space(stash, entry['archive_bytes'] + entry['unpacked_bytes'] - partial,
                     download.not_enough_space('the dataset zip and its unpacked images', '--dataset_dir'))
    print(' [*] Downloading the %s dataset' % name)
    try:
        if entry['archive_url']:
            download.fetch(entry['archive_url'], archive)
        else:
            download.gdrive_download(entry['gdrive_id'], archive)
    except DownloadError as exc:
        _remove_empty(stash)  # a partial file stays, for the next run to resume
        raise UserError(manual_steps(name, config, exc))
    return archive


def download_dataset(config):
    """Get the dataset config.paths.dataset into <dataset_dir>/<dataset>/ (from
    config.download.archive when given) and check it. Returns the folder; raises UserError."""
    name, given = config.paths.dataset, config.download.archive
    folder = os.path.join(config.paths.dataset_dir, name)
    _refuse_existing(folder)
    if given and not os.path.isfile(given):
        raise UserError('--archive %s: no such file' % given)
    archive = given or fetch_archive(name, config)
    check_disk_space(config.paths.dataset_dir, DATASETS[name]['unpacked_bytes'],
                     download.not_enough_space('the unpacked images', '--dataset_dir'))
    try:
        install(archive, folder, DATASETS[name])
    except DownloadError as exc:
        advice = ('Check that it is the zip of %s; nothing was unpacked.'
                  % download.DRIVE_PAGE_URL.format(DATASETS[name]['gdrive_id']) if given else
                  'Delete it and run this command again; nothing was unpacked.')
        raise UserError('%s\n%s' % (exc, advice))
    if not given:
        os.remove(archive)  # unpacked and checked: no longer needed
        _remove_empty(os.path.dirname(archive))
    return folder


def _remove_empty(folder):
    try:
        os.rmdir(folder)
    except OSError:  # it holds another download
        pass


def run_dataset_download(config):
    """--phase download --what dataset: returns the exit status 0 when ready; raises UserError."""
    folder = download_dataset(config)
    print(' [*] ready: the %s dataset is in %s' % (config.paths.dataset, folder))
    print('Next:\n  python main.py --dataset %s%s' % (config.paths.dataset, _dataset_dir_flag(config)))
    return 0
