"""keel.storage: the one way to name a company's stored files, list them and delete them."""

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from keel.storage import company_folder, company_ids_with_files, delete_folder, list_folder, walk_files


def store(name, text="x"):
    assert default_storage.save(name, ContentFile(text.encode())) == name
    return name


def test_company_folder_names_a_folder_or_file_inside_the_company_s_own():
    assert company_folder(7) == "companies/7"
    assert company_folder("7", "imports", "abc") == "companies/7/imports/abc"
    assert company_folder(7, "attachments", "2025/01", "a.pdf") == "companies/7/attachments/2025/01/a.pdf"
    assert company_folder(7, None) == company_folder(7, "") == "companies/7"
    assert company_folder(7, "/exports/") == "companies/7/exports"


def test_walk_files_lists_every_file_below_a_folder_and_nothing_for_a_missing_one():
    names = [store("companies/1/a.txt"), store("companies/1/sub/b.txt"), store("companies/1/sub/deeper/c.txt")]
    store("companies/2/other.txt")
    assert sorted(walk_files("companies/1")) == sorted(names)
    assert list(walk_files("companies/9")) == []
    assert list_folder("companies/9") == ([], [])
    assert company_ids_with_files() == [1, 2]


def test_delete_folder_deletes_files_and_empty_folders_but_keeps_what_it_is_told_to():
    store("companies/1/imports/t/upload.csv")
    store("companies/1/imports/t/parts/1.csv")
    store("companies/1/imports/t/errors.csv")
    store("companies/1/imports/u/upload.csv")
    assert delete_folder("companies/1/imports/t", keep=("errors.csv",)) == 2
    assert sorted(walk_files("companies/1")) == ["companies/1/imports/t/errors.csv", "companies/1/imports/u/upload.csv"]
    assert "parts" not in list_folder("companies/1/imports/t")[0]  # no emptied folder is left (on a local disk)
    assert delete_folder("companies/1") == 2
    assert "1" not in list_folder("companies")[0]
    assert delete_folder("companies/1") == 0  # safe to repeat
    assert delete_folder("") == 0
