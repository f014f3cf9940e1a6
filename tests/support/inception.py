"""Stand-ins for TF-GAN's frozen Inception graph (which tests cannot download).

small_graph_def(): a tiny frozen graph with the same tensor names (`Mul:0` in, `pool_3:0` out,
[N, 1, 1, d] like the real pool_3), random fixed weights and a small feature size, for tests.

As a script it writes a frozen graph of Inception-v3 architecture and cost (Keras' InceptionV3
with random weights, 2048-d pool_3) to time `--phase eval` without the real file:

    python -m tests.support.inception --inception_v3 standin_v3.pb   (from the project root)
"""

import argparse
import io
import tarfile

import numpy as np


def _frozen(build, feature_dim, seed):
    import tensorflow as tf
    graph = tf.Graph()
    with graph.as_default():
        build(feature_dim, np.random.RandomState(seed))
    return graph.as_graph_def()


def small_graph_def(feature_dim=8, seed=0, input_name='Mul', output_name='pool_3'):
    """A frozen GraphDef: `input_name` [N, 299, 299, 3] -> conv -> ReLU -> mean -> `output_name` [N, 1, 1, d]."""
    import tensorflow as tf

    def build(dim, rng):
        images = tf.compat.v1.placeholder(tf.float32, [None, 299, 299, 3], name='input')
        x = tf.multiply(images, 1.0, name=input_name)
        kernel = tf.constant(rng.normal(0, 0.5, (5, 5, 3, dim)).astype(np.float32))
        bias = tf.constant(rng.normal(0, 0.1, dim).astype(np.float32))
        y = tf.nn.relu(tf.nn.conv2d(x, kernel, strides=4, padding='VALID') + bias)
        tf.reduce_mean(y, axis=[1, 2], keepdims=True, name=output_name)
    return _frozen(build, feature_dim, seed)


def write_archive(path, graph_bytes, member='inceptionv1_for_inception_score.pb'):
    """Write a .tar.gz holding `graph_bytes` as `member` (the layout of TF-GAN's archive)."""
    with tarfile.open(path, 'w:gz') as tar:
        info = tarfile.TarInfo(member)
        info.size = len(graph_bytes)
        tar.addfile(info, io.BytesIO(graph_bytes))
    return path


def inception_v3_graph_def(seed=0):
    """Keras' InceptionV3 (random weights, average-pooled 2048-d features) frozen with the real names."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    tf.keras.utils.set_random_seed(seed)
    model = tf.keras.applications.InceptionV3(weights=None, include_top=False, pooling='avg',
                                              input_shape=(299, 299, 3))

    @tf.function(input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)])
    def features(images):
        x = tf.multiply(images, 1.0, name='Mul')
        return tf.reshape(model(x, training=False), [-1, 1, 1, 2048], name='pool_3')

    frozen = convert_variables_to_constants_v2(features.get_concrete_function())
    graph_def = frozen.graph.as_graph_def()
    # The traced function names its tensors inside the function graph; rename the two we need.
    for node in graph_def.node:
        for name in ('Mul', 'pool_3'):
            if node.name.endswith('/' + name) or node.name == name:
                old = node.name
                node.name = name
                for other in graph_def.node:
                    other.input[:] = [name + i[len(old):] if i.split(':')[0] == old else i for i in other.input]
    return graph_def


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--inception_v3', required=True, help='output .pb')
    args = parser.parse_args(argv)
    data = inception_v3_graph_def().SerializeToString()
    with open(args.inception_v3, 'wb') as f:
        f.write(data)
    print('wrote %s (%.1f MB)' % (args.inception_v3, len(data) / 1e6))


if __name__ == '__main__':
    main()
