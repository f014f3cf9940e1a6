"""U-GAT-IT (Kim et al., ICLR 2020) in TensorFlow graph mode; from Python (docs/python.md):

    import ugatit
    model = ugatit.load()                    # the model `python main.py --phase test --input` uses
    anime = model.translate('selfie.jpg')    # -> PIL.Image

`import ugatit` imports neither TensorFlow nor OpenCV: load() does. Errors: ugatit.UserError.
"""

from ugatit.api import Model, load
from ugatit.errors import UserError

__all__ = ['load', 'Model', 'UserError']
