// Command ocibuild builds and unpacks the baedal container images without a
// container daemon or registry, with go-containerregistry.
//
//	ocibuild build -rootfs DIR -config CONFIG.json -tag NAME:TAG -out IMAGE.tar
//	ocibuild unpack -image IMAGE.tar -config-out CONFIG.json > rootfs.tar
//
// build makes a one-layer image of DIR (every file owned by root, times set
// to SOURCE_DATE_EPOCH so that the same inputs give the same digest) with
// the user, entrypoint, command, environment and labels of CONFIG.json, and
// writes one archive that is both an OCI image layout (index.json, blobs/)
// and a `docker save` archive (manifest.json), so that `docker load`,
// `kind load image-archive`, `ctr import` and skopeo's oci-archive: accept it.
//
// unpack reads such an archive back: the image's configuration to
// CONFIG.json and its flattened file system as a tar stream on stdout.
package main

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// imageConfig is what images/<image>.json says of the image's runtime.
type imageConfig struct {
	User         string            `json:"user"`
	Entrypoint   []string          `json:"entrypoint"`
	Cmd          []string          `json:"cmd"`
	Env          []string          `json:"env"`
	WorkingDir   string            `json:"workdir"`
	ExposedPorts []string          `json:"exposed_ports"`
	Labels       map[string]string `json:"labels"`
}

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: ocibuild build|unpack …"))
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = build(os.Args[2:])
	case "unpack":
		err = unpack(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (build, unpack)", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ocibuild:", err)
	os.Exit(1)
}

func build(args []string) error {
	flags := flag.NewFlagSet("build", flag.ExitOnError)
	rootfs := flags.String("rootfs", "", "directory that becomes the image's file system")
	configPath := flags.String("config", "", "the image's runtime configuration (JSON)")
	tag := flags.String("tag", "", "image name and tag, e.g. baedal:dev")
	out := flags.String("out", "", "archive to write")
	_ = flags.Parse(args)
	if *rootfs == "" || *configPath == "" || *tag == "" || *out == "" {
		return errors.New("build needs -rootfs, -config, -tag and -out")
	}
	ref, err := name.NewTag(*tag, name.WithDefaultRegistry(""))
	if err != nil {
		return fmt.Errorf("tag %q: %w", *tag, err)
	}
	var cfg imageConfig
	raw, err := os.ReadFile(*configPath)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("%s: %w", *configPath, err)
	}
	created := time.Unix(0, 0).UTC()
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		seconds, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", epoch, err)
		}
		created = time.Unix(seconds, 0).UTC()
	}

	layerTar, err := os.CreateTemp("", "ocibuild-layer-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(layerTar.Name())
	if err := tarDirectory(*rootfs, layerTar, created); err != nil {
		return fmt.Errorf("packing %s: %w", *rootfs, err)
	}
	if err := layerTar.Close(); err != nil {
		return err
	}
	layer, err := tarball.LayerFromFile(layerTar.Name(), tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: created}, CreatedBy: "ocibuild: " + *rootfs, Comment: "scripts/images.sh"},
	})
	if err != nil {
		return err
	}
	file, err := img.ConfigFile()
	if err != nil {
		return err
	}
	file = file.DeepCopy()
	file.Architecture = "amd64"
	file.OS = "linux"
	file.Created = v1.Time{Time: created}
	ports := map[string]struct{}{}
	for _, p := range cfg.ExposedPorts {
		ports[p] = struct{}{}
	}
	file.Config = v1.Config{
		User:         cfg.User,
		Entrypoint:   cfg.Entrypoint,
		Cmd:          cfg.Cmd,
		Env:          cfg.Env,
		WorkingDir:   cfg.WorkingDir,
		ExposedPorts: ports,
		Labels:       cfg.Labels,
	}
	img, err = mutate.ConfigFile(img, file)
	if err != nil {
		return err
	}
	return writeArchive(img, ref, *out)
}

// tarDirectory writes dir as a tar stream: sorted, owned by root, dated created.
func tarDirectory(dir string, w io.Writer, created time.Time) error {
	var paths []string
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	tw := tar.NewWriter(w)
	for _, path := range paths {
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		header, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		header.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			header.Name += "/"
		}
		header.Uid, header.Gid, header.Uname, header.Gname = 0, 0, "root", "root"
		header.ModTime, header.AccessTime, header.ChangeTime = created, time.Time{}, time.Time{}
		header.Format = tar.FormatPAX
		if err := tw.WriteHeader(header); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			if err := copyFileTo(tw, path); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// copyFileTo copies the file at path to w.
func copyFileTo(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// createFileFrom writes what r holds to a new file at path.
func createFileFrom(path string, r io.Reader) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeArchive writes the image as an OCI layout with a docker manifest.json
// beside it, all in one tar archive.
func writeArchive(img v1.Image, ref name.Tag, out string) error {
	dir, err := os.MkdirTemp("", "ocibuild-layout-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	repoTag := ref.RepositoryStr() + ":" + ref.TagStr()
	if err := path.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": ref.TagStr(),
		"io.containerd.image.name":          repoTag,
	})); err != nil {
		return err
	}
	configName, err := img.ConfigName()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var layerPaths []string
	for _, l := range layers {
		digest, err := l.Digest()
		if err != nil {
			return err
		}
		layerPaths = append(layerPaths, "blobs/sha256/"+digest.Hex)
	}
	manifest, err := json.Marshal([]map[string]any{{
		"Config":   "blobs/sha256/" + configName.Hex,
		"RepoTags": []string{repoTag},
		"Layers":   layerPaths,
	}})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), manifest, 0o644); err != nil {
		return err
	}
	// Blobs are written private; in the archive everything is world-readable.
	err = filepath.WalkDir(dir, func(path string, entry fs.DirEntry, err error) error {
		if err != nil || entry.IsDir() {
			return err
		}
		return os.Chmod(path, 0o644)
	})
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := tarDirectory(dir, f, time.Unix(0, 0).UTC()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func unpack(args []string) error {
	flags := flag.NewFlagSet("unpack", flag.ExitOnError)
	image := flags.String("image", "", "archive written by ocibuild build")
	configOut := flags.String("config-out", "", "where to write the image's configuration (JSON)")
	_ = flags.Parse(args)
	if *image == "" || *configOut == "" {
		return errors.New("unpack needs -image and -config-out")
	}
	img, err := tarball.ImageFromPath(*image, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", *image, err)
	}
	if err := sameAsLayout(img, *image); err != nil {
		return fmt.Errorf("%s: %w", *image, err)
	}
	file, err := img.ConfigFile()
	if err != nil {
		return err
	}
	raw, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*configOut, raw, 0o644); err != nil {
		return err
	}
	files := mutate.Extract(img)
	defer files.Close()
	_, err = io.Copy(os.Stdout, files)
	return err
}

// sameAsLayout checks that the archive's OCI layout (index.json) holds the
// image its docker manifest.json names: the same configuration and layers.
func sameAsLayout(docker v1.Image, archive string) error {
	dir, err := os.MkdirTemp("", "ocibuild-unpack-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := untar(archive, dir); err != nil {
		return err
	}
	index, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return fmt.Errorf("not an OCI image layout: %w", err)
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		return err
	}
	if len(manifest.Manifests) != 1 {
		return fmt.Errorf("the OCI index holds %d images, not 1", len(manifest.Manifests))
	}
	oci, err := index.Image(manifest.Manifests[0].Digest)
	if err != nil {
		return err
	}
	if manifest.Manifests[0].MediaType != types.OCIManifestSchema1 {
		return fmt.Errorf("the OCI index's manifest is %s", manifest.Manifests[0].MediaType)
	}
	want, err := digests(docker)
	if err != nil {
		return err
	}
	got, err := digests(oci)
	if err != nil {
		return err
	}
	if fmt.Sprint(want) != fmt.Sprint(got) {
		return fmt.Errorf("manifest.json names %v, index.json %v", want, got)
	}
	return nil
}

// digests are an image's configuration digest and its layers' digests.
func digests(img v1.Image) ([]v1.Hash, error) {
	config, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	out := []v1.Hash{config}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// untar extracts the regular files and directories of archive into dir.
func untar(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		header, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(header.Name))
		if !strings.HasPrefix(target, filepath.Clean(dir)+string(os.PathSeparator)) {
			return fmt.Errorf("archive entry %q leaves the archive", header.Name)
		}
		switch header.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := createFileFrom(target, tr); err != nil {
				return err
			}
		}
	}
}
