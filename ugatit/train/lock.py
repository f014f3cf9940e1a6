"""A lock on a checkpoint folder, so that two trainings never write into one folder at once.

The lock is the file `<folder>/.ugatit.lock`, created exclusively, holding the owner's pid, host
and start time. A lock whose owner is a process of this host that no longer runs is stale: it is
reported, and taken over only when the user says so (--take_over_lock).
"""

import json
import os
import socket
import time

from ugatit.errors import UserError

LOCK_FILE = '.ugatit.lock'


class FolderLock(object):
    """with FolderLock(folder, take_over=False): ... holds the lock for the block.

    Raises UserError when another live process (or one of another host) holds it, or when a
    stale lock is found and take_over is False."""

    def __init__(self, folder, take_over=False):
        self.folder = folder
        self.path = os.path.join(folder, LOCK_FILE)
        self.take_over = take_over
        self.owner = {'pid': os.getpid(), 'host': socket.gethostname(),
                      'started': time.strftime('%Y-%m-%d %H:%M:%S')}

    def __enter__(self):
        os.makedirs(self.folder, exist_ok=True)
        while not self._create():
            holder = self._read()
            if not _is_stale(holder):
                raise UserError('%s is in use by another training (pid %s on host %s, since %s): two runs would '
                                'mix their checkpoints. Wait for it to finish, or train into another '
                                '--checkpoint_dir.' % (self.folder, holder.get('pid'), holder.get('host'),
                                                       holder.get('started')))
            if not self.take_over:
                raise UserError('%s holds a stale lock (%s) of pid %s on host %s, which no longer runs (it was '
                                'killed or crashed). Pass --take_over_lock true to train in that folder anyway.'
                                % (self.folder, self.path, holder.get('pid'), holder.get('host')))
            print(' [!] taking over the stale lock of pid %s in %s' % (holder.get('pid'), self.folder))
            os.remove(self.path)
        return self

    def __exit__(self, *exc):
        if self._read() == self.owner:
            os.remove(self.path)

    def _create(self):
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, 'w') as f:
            json.dump(self.owner, f)
        return True

    def _read(self):
        try:
            with open(self.path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}  # unreadable or half written: treated as stale


def _is_stale(holder):
    """True when the lock's owner is a process of this host that no longer runs (or unknown)."""
    if holder.get('host') not in (None, socket.gethostname()):
        return False  # another machine's process: it cannot be checked from here
    try:
        os.kill(int(holder.get('pid')), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return True
    except PermissionError:
        return False  # alive, owned by another user
    return False
